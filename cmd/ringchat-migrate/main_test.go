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
