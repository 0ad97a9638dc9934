package repo

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

const nts = "org.apache.cassandra.locator.NetworkTopologyStrategy"

// catchUpAt is a CatchUp on a clock the test moves, with ev and active helpers.
type catchUpAt struct {
	t  *testing.T
	c  *CatchUp
	at time.Time
}

func newCatchUpAt(t *testing.T, dc string, repl map[string]string) *catchUpAt {
	c := &catchUpAt{t: t, c: NewCatchUp(dc, time.Hour), at: time.Unix(1_800_000_000, 0)}
	c.c.now = func() time.Time { return c.at }
	c.c.Enable(repl)
	return c
}

func (c *catchUpAt) ev(id, dc, event string) {
	c.c.Host(HostEvent{HostID: id, Addr: "10.0.0." + id, DC: dc, Event: event})
}

func (c *catchUpAt) active(want bool, why string) {
	c.t.Helper()
	if got, _ := c.c.Active(); got != want {
		c.t.Fatalf("%s: active %v, want %v", why, got, want)
	}
}

// {dc1: 3, dc2: 1}, chatd in dc2: its one node lost and back catches up for
// the window; lost again, nothing changes until it is back (its EACH_QUORUM
// could not be met); another DC's nodes and a node never lost owe nothing.
func TestCatchUpOneLocalReplica(t *testing.T) {
	c := newCatchUpAt(t, "dc2", map[string]string{"class": nts, "dc1": "3", "dc2": "1", "dc3": "0"})
	c.ev("x", "dc1", "down")
	c.ev("x", "dc1", "up")
	c.active(false, "another DC's node back")
	c.ev("a", "dc2", "down")
	c.active(false, "the local node down: the driver reads through dc1")
	_, before := c.c.Active()
	c.ev("a", "dc2", "up")
	c.active(true, "the local node back")
	if !c.c.Changed(before) {
		t.Fatal("a return does not change the generation")
	}
	c.at = c.at.Add(30 * time.Minute)
	c.ev("a", "dc2", "down")
	c.active(false, "down again within the window")
	c.ev("a", "dc2", "up")
	c.at = c.at.Add(59 * time.Minute)
	c.active(true, "59 min after the second return (window 1 h)")
	c.ev("b", "dc2", "up") // never lost
	c.at = c.at.Add(2 * time.Minute)
	c.active(false, "past the window")
	// Back under a new address: the driver removes the old one first.
	c.ev("a", "dc2", "down")
	c.ev("a", "dc2", "remove")
	c.ev("a", "dc2", "add")
	c.ev("a", "dc2", "up")
	c.active(true, "back under a new address, same host id")
}

// Three local replicas: one node at a time (a rolling restart) never needs
// it; two down together do, from the first return; a node removed while
// down ends its part of the episode and is not counted later.
func TestCatchUpThreeLocalReplicas(t *testing.T) {
	c := newCatchUpAt(t, "dc1", map[string]string{"class": nts, "dc1": "3", "dc2": "3"})
	for _, id := range []string{"p", "q", "r"} {
		c.ev(id, "dc1", "down")
		c.at = c.at.Add(time.Minute)
		c.ev(id, "dc1", "up")
		c.at = c.at.Add(5 * time.Minute)
		c.active(false, "rolling restart, after "+id)
	}
	c.ev("p", "dc1", "down")
	c.ev("q", "dc1", "down")
	c.active(false, "two of three down")
	c.ev("p", "dc1", "up")
	c.active(true, "one of the two back")
	c.ev("q", "dc1", "remove") // taken out of the ring while down
	c.at = c.at.Add(2 * time.Minute)
	_, gen := c.c.Active()
	c.ev("q", "dc1", "up") // the id seen again long after: no return of the episode's
	if c.c.Changed(gen) {
		t.Fatal("an id seen again minutes after its removal counted as a return")
	}
	c.at = c.at.Add(2 * time.Hour)
	c.active(false, "past the window")
	c.ev("r", "dc1", "down")
	c.ev("r", "dc1", "up")
	c.active(false, "one node later, with the removed one not counted")

	one := newCatchUpAt(t, "dc1", map[string]string{"class": nts, "dc1": "3"})
	one.ev("p", "dc1", "down")
	one.ev("q", "dc1", "down")
	one.ev("p", "dc1", "up")
	one.active(false, "a keyspace in one DC")
	if a, _ := NewCatchUp("dc2", 0).Active(); a {
		t.Fatal("a zero window is never active")
	}
	if a, _ := (*CatchUp)(nil).Active(); a {
		t.Fatal("no tracker is never active")
	}
}

// The breaker's sequences of the episode logic.
func TestCatchUpEdgeSequences(t *testing.T) {
	two := map[string]string{"class": nts, "dc1": "3", "dc2": "1"}
	// Down when the session opened (the first pool fill reports it, before
	// the replication is known), back later.
	early := &catchUpAt{t: t, c: NewCatchUp("dc2", time.Hour), at: time.Unix(1_800_000_000, 0)}
	early.c.now = func() time.Time { return early.at }
	early.ev("a", "dc2", "add")
	early.ev("a", "dc2", "down")
	early.c.Enable(two)
	early.ev("a", "dc2", "up")
	early.active(true, "a node down at start, back")

	// RF 1 on two local nodes: A lost and back, then B restarts: A's
	// ranges are still read from A alone at LOCAL_QUORUM, so keep on.
	rf1 := newCatchUpAt(t, "dc2", two)
	rf1.ev("A", "dc2", "add")
	rf1.ev("B", "dc2", "add")
	rf1.ev("A", "dc2", "down")
	rf1.ev("A", "dc2", "up")
	rf1.ev("B", "dc2", "down")
	rf1.active(true, "A back, B down: a local node is up")
	rf1.ev("A", "dc2", "down")
	rf1.active(false, "no local node up: the driver reads through dc1")

	// RF 3 on six nodes: p and q lost together and back; s and t restart
	// together within the window: {p, q} may still be a stale read quorum.
	six := newCatchUpAt(t, "dc1", map[string]string{"class": nts, "dc1": "3", "dc2": "3"})
	for _, id := range []string{"p", "q", "r", "s", "t", "u"} {
		six.ev(id, "dc1", "add")
	}
	six.ev("p", "dc1", "down")
	six.ev("q", "dc1", "down")
	six.ev("p", "dc1", "up")
	six.ev("q", "dc1", "up")
	six.ev("s", "dc1", "down")
	six.ev("t", "dc1", "down")
	six.active(true, "two others down within the window")

	// A node lost during an episode extends it to its own return.
	ext := newCatchUpAt(t, "dc1", map[string]string{"class": nts, "dc1": "3", "dc2": "3"})
	ext.ev("p", "dc1", "down")
	ext.ev("q", "dc1", "down")
	ext.ev("p", "dc1", "up")
	ext.ev("r", "dc1", "down")
	ext.ev("q", "dc1", "up")
	ext.at = ext.at.Add(50 * time.Minute)
	ext.ev("r", "dc1", "up")
	ext.at = ext.at.Add(50 * time.Minute)
	ext.active(true, "50 min after r's return, r lost during the episode (window 1 h)")
}

func TestReadAcrossDCsSetsEachQuorum(t *testing.T) {
	q := (&gocql.Session{}).Query("SELECT 1")
	if got := consistencyFor(ReadAcrossDCs(context.Background()), q).GetConsistency(); got != gocql.EachQuorum {
		t.Fatalf("consistency %v, want EACH_QUORUM", got)
	}
	if got := consistencyFor(context.Background(), q.Consistency(gocql.LocalQuorum)).GetConsistency(); got != gocql.LocalQuorum {
		t.Fatalf("without the marker: %v, want the query's own", got)
	}
}
