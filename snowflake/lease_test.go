package snowflake_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestLeaseHelperProcess is not a test: the lease test runs it in child processes.
func TestLeaseHelperProcess(t *testing.T) {
	ks := os.Getenv("LEASE_HELPER_KEYSPACE")
	if ks == "" {
		return
	}
	startAt, _ := strconv.ParseInt(os.Getenv("LEASE_HELPER_START"), 10, 64)
	s, err := repo.Connect(cqltest.Config(ks))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	time.Sleep(time.Until(time.UnixMilli(startAt))) // all children claim at the same moment
	l, err := snowflake.AcquireLease(context.Background(), s, snowflake.LeaseConfig{TTL: 20 * time.Second, Logger: quiet})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("NODE", l.NodeID())
	time.Sleep(2 * time.Second) // hold it while the others claim
	os.Exit(0)                  // no release: the TTL would free it
}

func TestConcurrentProcessesGetDistinctNodeIDs(t *testing.T) {
	_, ks := cqltest.NewKeyspace(t, schema.DefaultSettings())
	const n = 4
	start := time.Now().Add(3 * time.Second).UnixMilli()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*strings.Builder, n)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseHelperProcess$")
		cmd.Env = append(os.Environ(), "LEASE_HELPER_KEYSPACE="+ks, "LEASE_HELPER_START="+strconv.FormatInt(start, 10))
		outs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	ids := map[string]int{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		var id string
		for _, line := range strings.Split(outs[i].String(), "\n") {
			if v, ok := strings.CutPrefix(line, "NODE "); ok {
				id = v
			}
		}
		if id == "" {
			t.Fatalf("child %d printed no node id:\n%s", i, outs[i])
		}
		ids[id]++
	}
	if len(ids) != n {
		t.Fatalf("%d processes leasing at once got ids %v: want %d distinct", n, ids, n)
	}
}

func TestLeaseExpiresReleasesAndDetectsLoss(t *testing.T) {
	s, _ := cqltest.NewKeyspace(t, schema.DefaultSettings())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("release frees the id at once", func(t *testing.T) {
		l, err := snowflake.AcquireLease(ctx, s, snowflake.LeaseConfig{TTL: 30 * time.Second, Owner: "a", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.Query(`SELECT COUNT(*) FROM snowflake_leases WHERE node_id = ?`, l.NodeID()).Scan(&n); err != nil || n != 0 {
			t.Fatalf("released lease still there: %d %v", n, err)
		}
	})

	t.Run("an unrenewed lease disappears after its TTL", func(t *testing.T) {
		// Claim by hand, as a process that then died, with a 2 s TTL.
		if err := s.Query(`INSERT INTO snowflake_leases (node_id, owner, leased_at) VALUES (5, 'dead', toTimestamp(now())) USING TTL 2`).Exec(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		var n int
		if err := s.Query(`SELECT COUNT(*) FROM snowflake_leases WHERE node_id = 5`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("expired lease still there: %d %v", n, err)
		}
	})

	t.Run("a holder whose id was taken reports Lost", func(t *testing.T) {
		l, err := snowflake.AcquireLease(ctx, s, snowflake.LeaseConfig{TTL: 3 * time.Second, RenewEvery: 500 * time.Millisecond, Owner: "victim", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(ctx)
		select {
		case <-l.Lost():
			t.Fatal("lost while renewing normally")
		case <-time.After(1500 * time.Millisecond):
		}
		// Someone else overwrites the row (as after an expiry and a new claim).
		if err := s.Query(`UPDATE snowflake_leases SET owner = 'thief' WHERE node_id = ?`, l.NodeID()).Exec(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-l.Lost():
		case <-time.After(5 * time.Second):
			t.Fatal("holder did not notice it lost its id")
		}
	})
}
