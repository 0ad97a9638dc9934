package repo

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

// A read through the local data centre (LOCAL_QUORUM) sees a write
// acknowledged in another DC only once replication brought it here, which
// the sync lag assumes takes milliseconds. When local replicas were down,
// what they missed comes back by hints over minutes, and a device syncing
// meanwhile was handed a cursor past it for good (docs/ring.md: 399 of 406).
//
// That needs a local read quorum of replicas that all missed a write: nodes
// down at the same time, as many as a local quorum (dc2's one node of
// {dc2: 1}; two of three). One node down at a time (a rolling restart)
// never does: a write made while it was down is on the others. So CatchUp
// notices such an episode of local nodes lost together, and from the return
// of the first of them until Window after the last, requests read at
// EACH_QUORUM (a quorum of each DC's replicas, which overlaps any DC's
// LOCAL_QUORUM write). Not while no local node is up: the driver then
// coordinates in another DC, whose LOCAL_QUORUM is that DC's quorum, and
// EACH_QUORUM could not be met. Only for a keyspace in several DCs.

// DefaultCatchUpWindow is Cassandra's max_hint_window: how long after a node
// is back hints may still be arriving. Past it, only a repair brings the
// writes, and reading across DCs no longer stands in for it.
const DefaultCatchUpWindow = 3 * time.Hour

// CatchUp follows the driver's host events for the local DC's nodes.
type CatchUp struct {
	localDC string
	window  time.Duration
	now     func() time.Time

	mu      sync.Mutex
	quorum  int                  // local replicas in a local read quorum; 0: off
	known   map[string]bool      // local nodes (by host id) the driver knows
	down    map[string]bool      // local nodes lost, not back
	episode map[string]bool      // nodes of the current episode not back yet
	removed map[string]time.Time // episode nodes the driver removed, and when
	until   time.Time            // catching up until then (the last return + window)
	gen     uint64               // counts returns: a request spanning one may have read stale
}

// NewCatchUp tracks the nodes of localDC; a zero window turns it off.
func NewCatchUp(localDC string, window time.Duration) *CatchUp {
	return &CatchUp{localDC: localDC, window: window, now: time.Now, known: map[string]bool{},
		down: map[string]bool{}, episode: map[string]bool{}, removed: map[string]time.Time{}}
}

// Enable turns the tracking on when replication (as system_schema.keyspaces
// holds it) places replicas in the local DC and in at least one other.
func (c *CatchUp) Enable(replication map[string]string) {
	dcs, local := 0, 0
	for k, v := range replication {
		rf, err := strconv.Atoi(v)
		if k == "class" || k == "replication_factor" || err != nil || rf <= 0 {
			continue
		}
		dcs++
		if k == c.localDC {
			local = rf
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quorum = 0
	if c.window > 0 && dcs > 1 && local > 0 {
		c.quorum = local/2 + 1
	}
	// Nodes already down when the session opened (its first pool fill
	// reports them) start an episode now that the quorum is known.
	c.startEpisode()
}

// startEpisode makes the nodes down now an episode, when they are as many
// as a local quorum and none is under way.
func (c *CatchUp) startEpisode() {
	if len(c.episode) == 0 && c.quorum > 0 && len(c.down) >= c.quorum {
		for d := range c.down {
			c.episode[d] = true
		}
	}
}

// addressChange is how soon after its removal a node seen again counts as
// back under a new address (the driver removes the old address, then adds
// the new one) rather than as a new node.
const addressChange = time.Minute

// Host takes one driver host event. Nodes are known by host id, which a
// node keeps when its address changes.
func (c *CatchUp) Host(e HostEvent) {
	if e.DC != c.localDC {
		return
	}
	id := e.HostID
	if id == "" {
		id = e.Addr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	switch e.Event {
	case "add":
		c.known[id] = true
	case "down":
		c.known[id], c.down[id] = true, true
		if len(c.episode) > 0 {
			c.episode[id] = true // lost during the episode: it misses writes too
		}
		c.startEpisode()
	case "up":
		c.known[id] = true
		delete(c.down, id)
		at, wasRemoved := c.removed[id]
		if c.episode[id] || (wasRemoved && now.Sub(at) < addressChange) {
			delete(c.episode, id)
			delete(c.removed, id)
			c.until, c.gen = now.Add(c.window), c.gen+1
		}
	case "remove":
		// Left the ring (its ranges streamed elsewhere) or changing address:
		// it no longer keeps the episode going either way.
		delete(c.down, id)
		delete(c.known, id)
		if c.episode[id] {
			delete(c.episode, id)
			c.removed[id] = now
		}
	}
	for id, at := range c.removed {
		if now.Sub(at) >= addressChange {
			delete(c.removed, id)
		}
	}
}

// Active reports whether requests must read across DCs now, and the count
// of returns so far (Changed tells whether one came since).
func (c *CatchUp) Active() (bool, uint64) {
	if c == nil {
		return false, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Not while no local node is up: the driver then coordinates in another
	// DC, whose LOCAL_QUORUM is consistent, and EACH_QUORUM cannot be met.
	// (With some local nodes up, a partition without a local quorum fails at
	// either level.)
	return c.quorum > 0 && c.now().Before(c.until) && len(c.known) > len(c.down), c.gen
}

// Changed reports whether a local node of an episode came back since
// Active returned gen: a request that began before may have read a replica
// that is behind at the consistency it began with.
func (c *CatchUp) Changed(gen uint64) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen != gen
}

type acrossDCsKey struct{}

// ReadAcrossDCs makes the store's queries made with the returned context go
// at EACH_QUORUM, whatever the session's consistency.
func ReadAcrossDCs(ctx context.Context) context.Context {
	return context.WithValue(ctx, acrossDCsKey{}, true)
}

// consistencyFor applies ReadAcrossDCs to q.
func consistencyFor(ctx context.Context, q *gocql.Query) *gocql.Query {
	if ctx.Value(acrossDCsKey{}) != nil {
		return q.Consistency(gocql.EachQuorum)
	}
	return q
}
