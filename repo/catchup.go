package repo

import (
	"context"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

// A sync read through the local data centre (LOCAL_QUORUM) sees a write
// acknowledged in another DC only once replication brought it here, which
// the sync lag assumes takes milliseconds. When the local DC's replicas
// themselves were down, what they missed comes back by hints over minutes,
// and a device syncing meanwhile would be handed a cursor past it for good
// (docs/ring.md measured 399 of 406). CatchUp notices a local node lost and
// makes sync read at QUORUM (a quorum of every DC's replicas, which overlaps
// any DC's LOCAL_QUORUM write) from then until Window after every local node
// lost is back. It does nothing for a keyspace in one DC, where every write
// and read quorum of the DC overlap anyway.

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
	down    map[string]bool      // local nodes lost, not back
	back    map[string]time.Time // local nodes back, and when
	enabled bool
}

// NewCatchUp tracks the nodes of localDC; a zero window turns it off.
func NewCatchUp(localDC string, window time.Duration) *CatchUp {
	return &CatchUp{localDC: localDC, window: window, now: time.Now, down: map[string]bool{}, back: map[string]time.Time{}}
}

// Enable turns the tracking on when replication spans more DCs than the
// local one (replication as system_schema.keyspaces holds it).
func (c *CatchUp) Enable(replication map[string]string) {
	dcs := 0
	for k := range replication {
		if k != "class" && k != "replication_factor" {
			dcs++
		}
	}
	c.mu.Lock()
	c.enabled = c.window > 0 && c.localDC != "" && dcs > 1
	c.mu.Unlock()
}

// Host takes one driver host event.
func (c *CatchUp) Host(e HostEvent) {
	if e.DC != c.localDC {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Event {
	case "down":
		c.down[e.Addr] = true
		delete(c.back, e.Addr)
	case "up":
		if c.down[e.Addr] {
			delete(c.down, e.Addr)
			c.back[e.Addr] = c.now()
		}
	case "remove":
		delete(c.down, e.Addr)
		delete(c.back, e.Addr)
	}
}

// Active reports whether sync must read across DCs now.
func (c *CatchUp) Active() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled {
		return false
	}
	if len(c.down) > 0 {
		return true
	}
	now := c.now()
	for addr, at := range c.back {
		if now.Sub(at) < c.window {
			return true
		}
		delete(c.back, addr)
	}
	return false
}

type acrossDCsKey struct{}

// ReadAcrossDCs makes the store's queries made with the returned context
// read (and write) at QUORUM, whatever the session's consistency.
func ReadAcrossDCs(ctx context.Context) context.Context {
	return context.WithValue(ctx, acrossDCsKey{}, true)
}

// consistencyFor applies ReadAcrossDCs to q.
func consistencyFor(ctx context.Context, q *gocql.Query) *gocql.Query {
	if ctx.Value(acrossDCsKey{}) != nil {
		return q.Consistency(gocql.Quorum)
	}
	return q
}
