package repo

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// CatchUp reads across DCs from a local node's loss until the window after
// its return, only for a keyspace in several DCs, and ignores other DCs.
func TestCatchUpFollowsLocalNodes(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	c := NewCatchUp("dc2", time.Minute)
	c.now = func() time.Time { return at }
	ev := func(addr, dc, event string) { c.Host(HostEvent{Addr: addr, DC: dc, Event: event}) }

	ev("10.0.2.1", "dc2", "down")
	if c.Active() {
		t.Fatal("active before Enable")
	}
	c.Enable(map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc2": "3"})
	if c.Active() {
		t.Fatal("active for a keyspace in one DC")
	}
	c.Enable(map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "1"})
	if !c.Active() {
		t.Fatal("not active with a local node down")
	}
	ev("10.0.1.1", "dc1", "down") // another DC's node: its own DC's chatd catches up
	ev("10.0.2.1", "dc2", "up")
	at = at.Add(59 * time.Second)
	if !c.Active() {
		t.Fatal("not active 59 s after the local node came back (window 1 min)")
	}
	ev("10.0.2.2", "dc2", "up") // never lost: no catching up
	at = at.Add(2 * time.Second)
	if c.Active() {
		t.Fatal("still active past the window")
	}
	ev("10.0.2.2", "dc2", "down")
	ev("10.0.2.2", "dc2", "remove") // left the ring: nothing to catch up with
	if c.Active() {
		t.Fatal("active for a node that left the ring")
	}
	if NewCatchUp("dc2", 0).Active() || (*CatchUp)(nil).Active() {
		t.Fatal("a zero window or no tracker is never active")
	}
}

func TestReadAcrossDCsSetsQuorum(t *testing.T) {
	q := (&gocql.Session{}).Query("SELECT 1")
	if got := consistencyFor(ReadAcrossDCs(context.Background()), q).GetConsistency(); got != gocql.Quorum {
		t.Fatalf("consistency %v, want QUORUM", got)
	}
}
