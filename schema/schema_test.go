package schema_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
