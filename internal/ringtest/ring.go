// Package ringtest runs ringchat against a local three-node Cassandra ring
// (deploy/local/ring.sh) at replication factor 3 and breaks the ring under
// load: real chatd processes (internal/testcluster), real clients, real
// nodes killed with kill -9. It starts the ring when it is not up and fails
// loudly when it cannot: it never skips.
package ringtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/repo"
)

// Nodes are dc1's addresses, as ring.sh starts them by default.
var Nodes = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

// DC2Node is dc2's one node (ring.sh start --two-dc).
const DC2Node = "127.0.0.5"

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Script runs deploy/local/ring.sh with args, its output going to the test
// log line by line as it comes (a node start takes minutes here).
func Script(t testing.TB, timeout time.Duration, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root(), "deploy", "local", "ring.sh"), args...)
	cmd.Dir = root()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Logf("ring.sh %s: %s", args[0], sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("ring.sh %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// Up starts every node of the ring that is not running (a node left down by
// an earlier test too) and waits until all answer CQL and see each other up.
func Up(t testing.TB) {
	t.Helper()
	if err := Script(t, 25*time.Minute, "start"); err != nil {
		t.Fatalf("the Cassandra ring did not come up (deploy/local/ring.sh start; logs in .stack/ring/*/logs): %v", err)
	}
}

// Hosts are the ring's CQL contact points.
func Hosts() []string {
	out := make([]string, len(Nodes))
	for i, n := range Nodes {
		out[i] = n + ":9042"
	}
	return out
}

// Keyspace creates a fresh keyspace replicated three times in dc1
// (NetworkTopologyStrategy {dc1: 3}) with the project's own tool; DropKeyspace
// removes it. Not SimpleStrategy (--rf 3): it places replicas on the next
// nodes of the token ring whatever their DC, so once dc2's node is in the ring
// (TestRingTwoDCs adds it) it would hold replicas of some ranges, and a dc1
// coordinator's LOCAL_QUORUM, which counts only dc1's replicas, would lose
// those ranges with one dc1 node down. Bookkeeping at QUORUM: LOCAL_QUORUM
// coordinated by dc2's node finds no replica there. Migrating takes minutes
// on a busy ring, so a package's tests share one.
func Keyspace() (string, error) {
	return migrate("t_ring", Hosts(), "--dc-rf", "dc1:3", "--consistency", "QUORUM")
}

// migrate makes a fresh keyspace named prefix_<n> with ringchat-migrate up
// through hosts, with the replication flags given.
func migrate(prefix string, hosts []string, flags ...string) (string, error) {
	name := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()%1_000_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"run", "./cmd/ringchat-migrate", "--cassandra-hosts", strings.Join(hosts, ","),
		"--keyspace", name, "--message-bucket", "1h", "--inbox-bucket", "1h"}, flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, "up")...)
	cmd.Dir = root()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("ringchat-migrate %s up: %w\n%s", strings.Join(flags, " "), err, out)
	}
	return name, nil
}

var staleOnce sync.Once

// DropStale drops, once per test process and before it makes any keyspace,
// the keyspaces earlier runs left on the ring (killed before their cleanup):
// the ring lock is held, so no other run uses them, and each one left costs
// every node its tables and adds to every later schema change.
func DropStale(t testing.TB) {
	t.Helper()
	staleOnce.Do(func() {
		s, err := Session(Hosts(), "", gocql.Quorum)
		if err != nil {
			t.Logf("looking for keyspaces earlier runs left: %v", err)
			return
		}
		defer s.Close()
		iter := s.Query(`SELECT keyspace_name FROM system_schema.keyspaces`).Iter()
		var name string
		var stale []string
		for iter.Scan(&name) {
			if strings.HasPrefix(name, "t_ring") {
				stale = append(stale, name)
			}
		}
		if err := iter.Close(); err != nil {
			t.Logf("looking for keyspaces earlier runs left: %v", err)
		}
		for _, ks := range stale {
			err := s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec()
			t.Logf("dropped keyspace %s, left by an earlier run (%v)", ks, err)
		}
	})
}

// DropKeyspace removes a keyspace Keyspace made, best effort.
func DropKeyspace(name string) {
	s, err := Session(Hosts(), "", gocql.Quorum)
	if err != nil {
		return
	}
	defer s.Close()
	_ = s.Query("DROP KEYSPACE IF EXISTS " + name).Exec()
}

// Session opens a session to hosts only (no discovery of the others when
// there is one: a read at ONE through it is served by that node, whose
// snitch puts itself first; ring.sh turns the dynamic snitch off).
func Session(hosts []string, keyspace string, cons gocql.Consistency) (*gocql.Session, error) {
	cfg := repo.DefaultCassandraConfig()
	cfg.Hosts = hosts
	cfg.Keyspace = keyspace
	cfg.Timeout = 30 * time.Second
	cluster, err := repo.NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	cluster.Consistency = cons
	if len(hosts) == 1 {
		only := strings.Split(hosts[0], ":")[0]
		cluster.HostFilter = gocql.HostFilterFunc(func(h *gocql.HostInfo) bool { return h.ConnectAddress().String() == only })
	}
	return cluster.CreateSession()
}

// SessionInDC opens a session that uses only dc's nodes as coordinators (a
// client of that DC, as a chatd with --local-dc there would be while its DC is up).
func SessionInDC(hosts []string, dc, keyspace string, cons gocql.Consistency) (*gocql.Session, error) {
	cfg := repo.DefaultCassandraConfig()
	cfg.Hosts, cfg.Keyspace, cfg.LocalDC, cfg.Timeout = hosts, keyspace, dc, 30*time.Second
	cluster, err := repo.NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	cluster.Consistency = cons
	cluster.HostFilter = gocql.DataCentreHostFilter(dc)
	return cluster.CreateSession()
}

// PendingHints counts the hint files the live nodes hold for addr
// (system_views.pending_hints on each node: hints are node-local).
func PendingHints(addr string) (int, error) {
	total := 0
	for _, n := range Nodes {
		if n == addr {
			continue
		}
		s, err := Session([]string{n + ":9042"}, "", gocql.One)
		if err != nil {
			continue // a node that is down holds no hints we can wait for
		}
		iter := s.Query(`SELECT address, files FROM system_views.pending_hints`).Iter()
		var a string
		var files int
		for iter.Scan(&a, &files) {
			if a == addr {
				total += files
			}
		}
		err = iter.Close()
		s.Close()
		if err != nil {
			return 0, fmt.Errorf("pending hints on %s: %w", n, err)
		}
	}
	return total, nil
}

// SchemaOn polls until each of nodes, asked alone, knows keyspace's tables
// (as many as the seed, Nodes[0], which no scenario stops), or fails after
// timeout. A node that lacks them answers INCOMPATIBLE_SCHEMA to every
// replica write, so the scenarios check it before they kill a node and after
// one comes back.
func SchemaOn(keyspace string, nodes []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		counts, err := tableCounts(keyspace, append([]string{Nodes[0]}, nodes...))
		if err == nil {
			agree := counts[0] > 0
			for _, c := range counts {
				agree = agree && c == counts[0]
			}
			if agree {
				return nil
			}
			err = fmt.Errorf("tables of %s on %s (the seed) and %v: %v", keyspace, Nodes[0], nodes, counts)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the nodes do not agree on keyspace %s's schema after %s: %w", keyspace, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

func tableCounts(keyspace string, nodes []string) ([]int, error) {
	counts := make([]int, len(nodes))
	for i, n := range nodes {
		s, err := Session([]string{n + ":9042"}, "", gocql.One)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", n, err)
		}
		err = s.Query(`SELECT count(*) FROM system_schema.tables WHERE keyspace_name = ?`, keyspace).Scan(&counts[i])
		s.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s's schema: %w", n, err)
		}
	}
	return counts, nil
}
