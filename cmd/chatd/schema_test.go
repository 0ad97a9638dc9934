package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

// chatd must refuse a keyspace with pending schema versions and say how to migrate.
func TestRefusesPendingSchema(t *testing.T) {
	cfg := cqltest.AdminConfig()
	admin, err := repo.Connect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ks := fmt.Sprintf("t_pending_%08x", rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := schema.CreateKeyspace(ctx, admin, ks, schema.Replication{Class: "SimpleStrategy", Factor: 1}); err != nil {
		t.Fatal(err)
	}
	defer cqltest.DropKeyspace(ks)

	cmd := exec.CommandContext(ctx, testcluster.Binary(t))
	cmd.Env = append(os.Environ(), "RINGCHAT_LISTEN=127.0.0.1:0", "RINGCHAT_ADMIN_LISTEN=127.0.0.1:0", "RINGCHAT_KEYSPACE="+ks,
		"RINGCHAT_CASSANDRA_HOSTS="+strings.Join(cqltest.Hosts(), ","))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("chatd served a keyspace with no schema:\n%s", out)
	}
	if !strings.Contains(string(out), "ringchat-migrate up") || !strings.Contains(string(out), "0001_core") {
		t.Fatalf("chatd's refusal does not name the pending version and the command:\n%s", out)
	}
	if strings.Contains(string(out), "chatd serving") {
		t.Fatalf("chatd said it was serving:\n%s", out)
	}
}

func TestConfigRejectsBadEnvironment(t *testing.T) {
	t.Setenv("RINGCHAT_SEND_DEADLINE", "soon")
	if _, err := parseConfig(nil); err == nil || !strings.Contains(err.Error(), "RINGCHAT_SEND_DEADLINE") {
		t.Fatalf("bad duration accepted: %v", err)
	}
	t.Setenv("RINGCHAT_SEND_DEADLINE", "6s")
	if _, err := parseConfig(nil); err == nil || !strings.Contains(err.Error(), "sync-lag") {
		t.Fatalf("sync lag below send deadline accepted: %v", err)
	}
	t.Setenv("RINGCHAT_SEND_DEADLINE", "2s")
	c, err := parseConfig([]string{"--listen", "127.0.0.1:9999"})
	if err != nil || c.API.SendDeadline != 2*time.Second || c.Listen != "127.0.0.1:9999" {
		t.Fatalf("env and flags not applied: %+v, %v", c, err)
	}
}
