package schema_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

func TestVersionsParse(t *testing.T) {
	vs, err := schema.Versions()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 || vs[0].Name != "0001_core" {
		t.Fatalf("versions %v", vs)
	}
	for _, v := range vs {
		for _, st := range v.Statements {
			if strings.Contains(st, "--") || strings.HasSuffix(st, ";") || !(strings.HasPrefix(st, "CREATE ") || strings.HasPrefix(st, "ALTER TABLE ")) {
				t.Errorf("%s: statement not cut cleanly: %q", v.Name, st[:min(60, len(st))])
			}
			// Re-runnable forms only: a crashed migration runs its version again.
			up := strings.ToUpper(st)
			if strings.HasPrefix(up, "CREATE ") && !strings.Contains(up[:min(60, len(up))], " IF NOT EXISTS ") {
				t.Errorf("%s: CREATE without IF NOT EXISTS cannot be re-run: %q", v.Name, st[:min(60, len(st))])
			}
			if strings.HasPrefix(up, "ALTER TABLE ") && !regexp.MustCompile(`^ALTER TABLE \w+ (ADD \w+ [\w<>,]+|WITH .*)$`).MatchString(strings.Join(strings.Fields(up), " ")) {
				t.Errorf("%s: only ALTER TABLE ... ADD col type and ... WITH are re-runnable: %q", v.Name, st)
			}
			if strings.Contains(strings.ToUpper(st), "ALLOW FILTERING") || strings.Contains(st, "MATERIALIZED") {
				t.Errorf("%s uses CQL outside the ScyllaDB-compatible subset", v.Name)
			}
		}
	}
}

func TestReplication(t *testing.T) {
	dcs, err := schema.ParseDCFactors("dc2:2, dc1:3")
	if err != nil {
		t.Fatal(err)
	}
	cql, err := schema.Replication{Class: "NetworkTopologyStrategy", DataCenters: dcs}.CQL()
	if err != nil || cql != "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}" {
		t.Fatalf("%q %v", cql, err)
	}
	for _, bad := range []string{"", "dc1", "dc1:x", "dc1:0", ":3"} {
		if _, err := schema.ParseDCFactors(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := (schema.Replication{Class: "SimpleStrategy"}).CQL(); err == nil {
		t.Error("rf 0 accepted")
	}
	if _, err := (schema.Replication{Class: "EverywhereStrategy", Factor: 1}).CQL(); err == nil {
		t.Error("unknown class accepted")
	}
	if _, err := (schema.Replication{Class: "NetworkTopologyStrategy", DataCenters: map[string]int{"dc'1": 1}}).CQL(); err == nil {
		t.Error("quote in a DC name accepted")
	}
	for name, ok := range map[string]bool{"ringchat": true, "_x1": true, "Ringchat": false, "1abc": false, "a-b": false} {
		if schema.ValidKeyspace(name) != ok {
			t.Errorf("ValidKeyspace(%q) != %v", name, ok)
		}
	}
}

func TestMigrateOnRealNode(t *testing.T) {
	st := schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Minute}
	s, ks := cqltest.NewKeyspace(t, st) // applies everything once
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tables []string
	iter := s.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?`, ks).WithContext(ctx).Iter()
	var name string
	for iter.Scan(&name) {
		tables = append(tables, name)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"users", "messages_by_conversation", "inbox_by_user", "send_dedupe", "snowflake_leases", "schema_migrations"} {
		if !strings.Contains(strings.Join(tables, ","), want) {
			t.Errorf("table %s missing: %v", want, tables)
		}
	}
	applied, err := schema.Migrate(ctx, s, st)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, %v", applied, err)
	}
	if err := schema.CheckCurrent(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := schema.LoadSettings(ctx, s)
	if err != nil || got != st {
		t.Fatalf("settings %+v %v", got, err)
	}
	if _, err := schema.Migrate(ctx, s, schema.Settings{MessageBucket: 2 * time.Hour, InboxBucket: time.Minute}); err == nil {
		t.Fatal("a different bucket size was accepted on an existing keyspace")
	}
	// An applied file that changed is refused, not re-applied.
	if err := s.Query(`UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0001_core'`).WithContext(ctx).Exec(); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.Pending(ctx, s); err == nil || !strings.Contains(err.Error(), "edited") {
		t.Fatalf("edited version not detected: %v", err)
	}
	// A missing version makes chatd refuse, naming the command.
	if err := s.Query(`DELETE FROM schema_migrations WHERE version = '0001_core'`).WithContext(ctx).Exec(); err != nil {
		t.Fatal(err)
	}
	err = schema.CheckCurrent(ctx, s)
	if err == nil || !strings.Contains(err.Error(), "0001_core") || !strings.Contains(err.Error(), "ringchat-migrate up --keyspace "+ks) {
		t.Fatalf("CheckCurrent: %v", err)
	}
}

// columns describes a keyspace's tables and columns, for comparing schemas.
func columns(t *testing.T, s *gocql.Session, ks string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	iter := s.Query(`SELECT table_name, column_name, type, kind FROM system_schema.columns WHERE keyspace_name = ?`, ks).WithContext(ctx).Iter()
	var out []string
	var table, col, typ, kind string
	for iter.Scan(&table, &col, &typ, &kind) {
		out = append(out, table+"."+col+" "+typ+" "+kind)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// A migration that dies part-way through a version (after an ALTER TABLE ADD
// landed, before the version was recorded) is finished by running it again,
// and ends at the same schema as one uninterrupted run.
func TestMigrateResumesAfterCrashMidVersion(t *testing.T) {
	st := schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Minute}
	ref, refKS := cqltest.NewKeyspace(t, st)
	want := columns(t, ref, refKS)

	admin, err := repo.Connect(cqltest.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ks := fmt.Sprintf("t_crash_%08x", rand.Uint32())
	if err := schema.CreateKeyspace(ctx, admin, ks, schema.Replication{Class: "SimpleStrategy", Factor: 1}); err != nil {
		t.Fatal(err)
	}
	defer cqltest.DropKeyspace(ks)
	cfg := cqltest.AdminConfig()
	cfg.Keyspace = ks
	s, err := repo.Connect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Each cut lands right after an ALTER TABLE ADD, then after a CREATE.
	for _, cut := range []struct {
		version string
		stmt    int
	}{{"0003_cluster", 4}, {"0004_groups", 1}, {"0004_groups", 2}, {"0005_contacts", 1}, {"0006_chat_list", 1}} {
		crash := schema.AfterStatement(func(v string, i int) error {
			if v == cut.version && i == cut.stmt {
				return errors.New("simulated crash")
			}
			return nil
		})
		if _, err := schema.Migrate(ctx, s, st, crash); err == nil || !strings.Contains(err.Error(), cut.version) {
			t.Fatalf("migrate with a crash after %s statement %d: %v", cut.version, cut.stmt, err)
		}
	}
	if _, err := schema.Migrate(ctx, s, st); err != nil {
		t.Fatalf("re-run after crashes: %v", err)
	}
	if err := schema.CheckCurrent(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := columns(t, s, ks); !slices.Equal(got, want) {
		t.Fatalf("schema after crashes and re-runs differs:\n got %v\nwant %v", got, want)
	}
}
