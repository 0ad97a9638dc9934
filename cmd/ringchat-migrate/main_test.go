package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

func TestParse(t *testing.T) {
	cmd, o, err := parse([]string{"--keyspace", "k1", "up", "--dc-rf", "dc1:3,dc2:2"})
	if err != nil || cmd != "up" || o.keyspace != "k1" {
		t.Fatalf("parse: %q %+v %v", cmd, o, err)
	}
	r, err := o.replication()
	if err != nil || r.Class != "NetworkTopologyStrategy" || r.DataCenters["dc2"] != 2 {
		t.Fatalf("replication: %+v %v", r, err)
	}
	if _, _, err := parse([]string{"down"}); err == nil {
		t.Fatal("unknown command accepted")
	}
	_, o, _ = parse([]string{"status", "--dc-rf", "dc1:0"})
	if _, err := o.replication(); err == nil {
		t.Fatal("factor 0 accepted")
	}
	t.Setenv("RINGCHAT_RF", "three")
	if _, _, err := parse([]string{"up"}); err == nil || !strings.Contains(err.Error(), "RINGCHAT_RF") {
		t.Fatalf("bad env accepted: %v", err)
	}
}

// The credentials and local DC reach the driver's configuration, from flags
// or variables (a Job or unit passes the password only as a variable).
func TestParseCredentials(t *testing.T) {
	t.Setenv("RINGCHAT_CASSANDRA_PASSWORD", "s3cret")
	_, o, err := parse([]string{"up", "--cassandra-username", "admin", "--local-dc", "dc2", "--cassandra-hosts", "a:9042,b:9042"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.cassandra()
	if cfg.Username != "admin" || cfg.Password != "s3cret" || cfg.LocalDC != "dc2" || strings.Join(cfg.Hosts, " ") != "a:9042 b:9042" {
		t.Fatalf("config: user %q password %q dc %q hosts %v", cfg.Username, cfg.Password, cfg.LocalDC, cfg.Hosts)
	}
	_, o, _ = parse([]string{"status"})
	if cfg := o.cassandra(); cfg.Username != "" || cfg.LocalDC != "" {
		t.Fatalf("defaults: user %q dc %q", cfg.Username, cfg.LocalDC)
	}
}

// up on the real node: creates a NetworkTopologyStrategy keyspace in this
// node's data centre, applies every version once, and is idempotent.
func TestUpOnRealNode(t *testing.T) {
	ks := fmt.Sprintf("t_migrate_%08x", rand.Uint32())
	defer cqltest.DropKeyspace(ks)
	o := options{hosts: strings.Join(cqltest.Hosts(), ","), keyspace: ks, dcRF: "datacenter1:1",
		consistency: "LOCAL_QUORUM", settings: schema.DefaultSettings()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; i < 2; i++ {
		if err := run("up", o, log); err != nil {
			t.Fatalf("up #%d: %v", i+1, err)
		}
	}
	s, err := repo.Connect(cqltest.Config(ks))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := schema.CheckCurrent(ctx, s); err != nil {
		t.Fatal(err)
	}
	var key []byte
	if err := s.Query(`SELECT key FROM send_id_key WHERE name = 'v1'`).WithContext(ctx).Scan(&key); err != nil || len(key) != repo.SendIDKeyBytes {
		t.Fatalf("up left no send id key (%d bytes): %v", len(key), err)
	}
	var repl map[string]string
	if err := s.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).WithContext(ctx).Scan(&repl); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(repl["class"], "NetworkTopologyStrategy") || repl["datacenter1"] != "1" {
		t.Fatalf("replication %v", repl)
	}
	o.settings.MessageBucket = time.Hour
	if err := run("up", o, log); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Fatalf("changing a bucket size on an existing keyspace: %v", err)
	}
	o.settings = schema.DefaultSettings()
	// Other replication asked for an existing keyspace: CREATE KEYSPACE IF NOT
	// EXISTS would keep the old one and say "up to date", so up fails instead.
	o.dcRF, o.replicationAsked = "datacenter1:1,dc2:1", true
	if err := run("up", o, log); err == nil || !strings.Contains(err.Error(), "ALTER KEYSPACE") {
		t.Fatalf("up asking for other replication than the keyspace has: %v", err)
	}
	o.dcRF, o.class, o.rf = "", "SimpleStrategy", 1
	if err := run("up", o, log); err == nil || !strings.Contains(err.Error(), "exists with replication") {
		t.Fatalf("up asking for SimpleStrategy on a NetworkTopologyStrategy keyspace: %v", err)
	}
	o.replicationAsked = false // no replication flags: the keyspace keeps its own
	if err := run("up", o, log); err != nil {
		t.Fatalf("up without replication flags on an existing keyspace: %v", err)
	}
}

func TestReplicationAsked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"up"}, false},
		{[]string{"up", "--rf", "1"}, true},
		{[]string{"--dc-rf", "dc1:3,dc2:1", "up"}, true},
		{[]string{"up", "--replication-class=SimpleStrategy"}, true},
		{[]string{"up", "--keyspace", "k"}, false},
	} {
		if _, o, err := parse(tc.args); err != nil || o.replicationAsked != tc.want {
			t.Errorf("parse(%v): replication asked %v (%v), want %v", tc.args, o.replicationAsked, err, tc.want)
		}
	}
	t.Setenv("RINGCHAT_DC_RF", "dc1:3")
	if _, o, _ := parse([]string{"up"}); !o.replicationAsked {
		t.Error("RINGCHAT_DC_RF set: replication not counted as asked")
	}
}

func TestReplicationMatches(t *testing.T) {
	nts := schema.Replication{Class: "NetworkTopologyStrategy", DataCenters: map[string]int{"dc1": 3, "dc2": 1}}
	simple := schema.Replication{Class: "SimpleStrategy", Factor: 3}
	for _, tc := range []struct {
		r      schema.Replication
		stored map[string]string
		want   bool
	}{
		{nts, map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "1"}, true},
		{nts, map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3"}, false},
		{nts, map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "2"}, false},
		{nts, map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}, false},
		{simple, map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}, true},
		{simple, map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "1"}, false},
	} {
		if got := tc.r.Matches(tc.stored); got != tc.want {
			t.Errorf("%+v matches %v: %v, want %v", tc.r, tc.stored, got, tc.want)
		}
	}
}

// --help prints usage and exits 0; a bad command still fails.
func TestHelpExitsZero(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, args := range [][]string{{"--help"}, {"-h"}, {"up", "--help"}} {
		if code := cli(args, log); code != 0 {
			t.Errorf("ringchat-migrate %v exited %d", args, code)
		}
	}
	if code := cli([]string{"down"}, log); code != 2 {
		t.Errorf("an unknown command exited %d", code)
	}
}
