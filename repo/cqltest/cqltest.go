// Package cqltest gives tests a fresh, migrated keyspace on the real Cassandra
// node that `make test` starts. It never skips: no node is a loud failure.
package cqltest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/internal/faultproxy"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/schema"
)

// Hosts are the test node's contact points: RINGCHAT_CASSANDRA_HOSTS or 127.0.0.1:9042.
func Hosts() []string {
	if h := os.Getenv("RINGCHAT_CASSANDRA_HOSTS"); h != "" {
		return strings.Split(h, ",")
	}
	return []string{"127.0.0.1:9042"}
}

// Config is a CassandraConfig for the test node bound to keyspace ("" for none).
func Config(keyspace string) repo.CassandraConfig {
	c := repo.DefaultCassandraConfig()
	c.Hosts = Hosts()
	c.Keyspace = keyspace
	c.Timeout = 5 * time.Second // schema changes and a busy 2-core CI box
	return c
}

// AdminConfig is Config("") with a timeout long enough for schema changes,
// which on a busy 2-core node with several test packages at once can take
// well over Config's 5 s (CI saw CREATE KEYSPACE time out at 5 s).
func AdminConfig() repo.CassandraConfig {
	c := Config("")
	c.Timeout = 30 * time.Second
	return c
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]`)

// CreateKeyspace makes a fresh keyspace named t_<prefix>_<random>, applies the
// schema with st, and returns a session bound to it.
func CreateKeyspace(prefix string, st schema.Settings) (*gocql.Session, string, error) {
	prefix = unsafeChars.ReplaceAllString(strings.ToLower(prefix), "_")
	if len(prefix) > 30 {
		prefix = prefix[:30]
	}
	name := fmt.Sprintf("t_%s_%08x", prefix, rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ddl := AdminConfig()
	admin, err := repo.Connect(ddl)
	if err != nil {
		return nil, "", fmt.Errorf("Cassandra not reachable at %v: run `make test` (it starts the local stack) or `make stack`: %w", Hosts(), err)
	}
	defer admin.Close()
	if err := schema.CreateKeyspace(ctx, admin, name, schema.Replication{Class: "SimpleStrategy", Factor: 1}); err != nil {
		return nil, "", err
	}
	ddl.Keyspace = name
	migrator, err := repo.Connect(ddl)
	if err != nil {
		return nil, "", err
	}
	_, err = schema.Migrate(ctx, migrator, st)
	migrator.Close()
	if err != nil {
		return nil, "", fmt.Errorf("migrate %s: %w", name, err)
	}
	s, err := repo.Connect(Config(name))
	if err != nil {
		return nil, "", err
	}
	return s, name, nil
}

// NewKeyspace is CreateKeyspace for one test: it fails the test on error and
// closes and drops the keyspace when the test ends.
func NewKeyspace(t testing.TB, st schema.Settings) (*gocql.Session, string) {
	t.Helper()
	s, name, err := CreateKeyspace(t.Name(), st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		DropKeyspace(name)
	})
	return s, name
}

// DropKeyspace removes a test keyspace, best effort.
func DropKeyspace(name string) {
	admin, err := repo.Connect(AdminConfig())
	if err != nil {
		return
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = admin.Query("DROP KEYSPACE IF EXISTS " + name).WithContext(ctx).Exec()
}

// ProxiedSession opens a session on keyspace whose every connection goes
// through a fault-injecting TCP proxy (faultproxy), whatever addresses the
// ring advertises, so a test can make the real node hang or vanish.
func ProxiedSession(t testing.TB, keyspace string, timeout time.Duration) (*gocql.Session, *faultproxy.Proxy) {
	t.Helper()
	proxy, err := faultproxy.Start(Hosts()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	cfg := Config(keyspace)
	cfg.Hosts = []string{proxy.Addr()}
	cfg.Timeout = timeout
	cluster, err := repo.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cluster.AddressTranslator = gocql.AddressTranslatorFunc(func(ip net.IP, _ int) (net.IP, int) {
		return ip, proxy.Port()
	})
	s, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, proxy
}
