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
// CatchUp notices local nodes lost and, once one is back, makes requests
// read at EACH_QUORUM (a quorum of each DC's replicas, which overlaps any
// DC's LOCAL_QUORUM write) until Window after the last came back.
//
// Only when the lost local nodes could make up a local read quorum (with
// {dc2: 1}, its one node; with 3 replicas, two), and only for a keyspace in
// several DCs: otherwise a local quorum holds a node that missed nothing.
// While they are still down nothing changes: the driver then coordinates in
// another DC, whose LOCAL_QUORUM is that DC's quorum.

// DefaultCatchUpWindow is Cassandra's max_hint_window: how long after a node
// is back hints may still be arriving. Past it, only a repair brings the
// writes, and reading across DCs no longer stands in for it.
const DefaultCatchUpWindow = 3 * time.Hour

// CatchUp follows the driver's host events for the local DC's nodes.
type CatchUp struct {
	localDC string
	window  time.Duration
	now     func() time.Time

	mu     sync.Mutex
	down   map[string]bool      // local nodes (by host id) lost, not back
	back   map[string]time.Time // local nodes back, and when
	quorum int                  // local replicas in a local read quorum; 0: off
}

// NewCatchUp tracks the nodes of localDC; a zero window turns it off.
func NewCatchUp(localDC string, window time.Duration) *CatchUp {
	return &CatchUp{localDC: localDC, window: window, now: time.Now, down: map[string]bool{}, back: map[string]time.Time{}}
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
}

// Host takes one driver host event. Nodes are known by host id, which a
// node keeps when its address changes (the driver then removes the old
// address and adds the new).
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
	switch e.Event {
	case "down":
		c.down[id] = true
	case "up":
		if c.down[id] {
			delete(c.down, id)
			c.back[id] = c.now()
		}
	}
	// "remove" changes nothing: a node that left keeps no read quorum
	// stale, and one that comes back under a new address is still owed
	// its catching up.
}

// Active reports whether requests must read across DCs now.
func (c *CatchUp) Active() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.quorum == 0 {
		return false
	}
	now := c.now()
	for id, at := range c.back {
		if now.Sub(at) >= c.window {
			delete(c.back, id)
		}
	}
	return len(c.back) > 0 && len(c.back)+len(c.down) >= c.quorum
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
