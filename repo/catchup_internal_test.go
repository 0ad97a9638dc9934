package repo

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

const nts = "org.apache.cassandra.locator.NetworkTopologyStrategy"

// CatchUp reads across DCs once lost local nodes that could make up a local
// read quorum are back, until the window after the last returned; only for
// a keyspace in several DCs, and by host id.
func TestCatchUpFollowsLocalNodes(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	c := NewCatchUp("dc2", time.Minute)
	c.now = func() time.Time { return at }
	ev := func(id, addr, dc, event string) { c.Host(HostEvent{HostID: id, Addr: addr, DC: dc, Event: event}) }
	active := func(want bool, why string) {
		t.Helper()
		if c.Active() != want {
			t.Fatalf("%s: active %v, want %v", why, !want, want)
		}
	}

	c.Enable(map[string]string{"class": nts, "dc2": "1"})
	ev("z", "10.0.2.7", "dc2", "down")
	ev("z", "10.0.2.7", "dc2", "up")
	active(false, "a keyspace in one DC")
	at = at.Add(time.Minute) // z's return is past the window before dc1 is added

	c.Enable(map[string]string{"class": nts, "dc1": "3", "dc2": "1", "dc3": "0"})
	ev("a", "10.0.2.1", "dc2", "down")
	active(false, "the local node still down (queries go to dc1, whose quorum is consistent)")
	ev("x", "10.0.1.1", "dc1", "down") // another DC's node: its own DC's chatd catches up
	ev("x", "10.0.1.1", "dc1", "up")
	active(false, "another DC's node back")
	// Back under a new address: the driver removes the old one first.
	ev("a", "10.0.2.1", "dc2", "remove")
	ev("a", "10.0.2.9", "dc2", "add")
	ev("a", "10.0.2.9", "dc2", "up")
	active(true, "the local node back (new address, same host id)")
	at = at.Add(59 * time.Second)
	active(true, "59 s after it came back (window 1 min)")
	ev("b", "10.0.2.2", "dc2", "up") // never lost: owes nothing
	at = at.Add(2 * time.Second)
	active(false, "past the window")

	// Three local replicas: one node lost and back leaves a local quorum
	// with a node that missed nothing; two do not.
	c3 := NewCatchUp("dc1", time.Minute)
	c3.now = c.now
	c3.Enable(map[string]string{"class": nts, "dc1": "3", "dc2": "3"})
	c3.Host(HostEvent{HostID: "p", DC: "dc1", Event: "down"})
	c3.Host(HostEvent{HostID: "p", DC: "dc1", Event: "up"})
	if c3.Active() {
		t.Fatal("one of three local replicas back: active")
	}
	c3.Host(HostEvent{HostID: "q", DC: "dc1", Event: "down"})
	if !c3.Active() {
		t.Fatal("one back and another down, of three: not active")
	}
	if NewCatchUp("dc2", 0).Active() || (*CatchUp)(nil).Active() {
		t.Fatal("a zero window or no tracker is never active")
	}
}

func TestReadAcrossDCsSetsEachQuorum(t *testing.T) {
	q := (&gocql.Session{}).Query("SELECT 1")
	if got := consistencyFor(ReadAcrossDCs(context.Background()), q).GetConsistency(); got != gocql.EachQuorum {
		t.Fatalf("consistency %v, want EACH_QUORUM", got)
	}
}
