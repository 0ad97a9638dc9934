package ws

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// CloseSessionEnded (1008, policy violation) closes a socket whose
// credentials ended: its token expired, or its session was found gone.
const CloseSessionEnded = 1008

// Bounded is a Handler whose socket may live only while its session does.
// The hub closes the socket with CloseSessionEnded at Expiry, and asks Live
// once the socket is registered and OnConnect has returned (so the node's
// route for it is written and a logout elsewhere can find it), then again
// every Config.SessionCheckInterval (jittered), and whenever the handler
// calls Client.SessionLive. A logout normally reaches the socket at once
// through CloseDevice; the re-checks bound how long it lives when that close
// order is lost on the way (a full queue, a failed forward, a missing route).
type Bounded interface {
	Handler
	Expiry() time.Time
	Live(ctx context.Context) bool
}

// sessionWatch is a Bounded socket's re-check state.
type sessionWatch struct {
	b       Bounded
	checked atomic.Int64 // unix nanos of the last check that found the session live
	timer   *time.Timer  // next periodic check; guarded by Client.mu
	stopped bool         // the socket has ended; guarded by Client.mu
}

// bound arms the socket's expiry; the timers are stopped when the socket
// ends, so a long-lived token costs a closed socket nothing.
func (c *Client) bound(b Bounded) {
	d := time.Until(b.Expiry())
	c.expiry = time.AfterFunc(max(d, 0), func() { c.close(CloseSessionEnded, "session expired") })
	c.watch = &sessionWatch{b: b}
}

// checkLive runs after OnConnect, beside the read loop; it arms the
// periodic re-checks.
func (c *Client) checkLive() {
	if c.watch != nil && c.recheck() {
		c.armRecheck()
	}
}

// recheck asks the store once; a dead session closes the socket.
func (c *Client) recheck() bool {
	if c.ctx.Err() != nil {
		return false
	}
	if !c.watch.b.Live(c.ctx) {
		c.close(CloseSessionEnded, "session ended")
		return false
	}
	c.watch.checked.Store(time.Now().UnixNano())
	return true
}

// armRecheck schedules the next check at 75%..125% of the interval, so a
// node's sockets (all set up in a reconnect storm) do not read at once.
func (c *Client) armRecheck() {
	iv := c.hub.cfg.SessionCheckInterval
	d := iv*3/4 + rand.N(iv/2+1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.watch.stopped {
		return
	}
	c.watch.timer = time.AfterFunc(d, func() {
		if c.recheck() {
			c.armRecheck()
		}
	})
}

// SessionLive reports whether the socket's session is live, reading the
// store only when the last check is older than maxAge; a dead session
// closes the socket with CloseSessionEnded. Handlers call it before acting
// on a frame, so a socket whose close order was lost cannot act for long.
// A socket without a session bound to it is always live.
func (c *Client) SessionLive(maxAge time.Duration) bool {
	if c.watch == nil {
		return c.ctx.Err() == nil
	}
	if time.Since(time.Unix(0, c.watch.checked.Load())) < maxAge {
		return c.ctx.Err() == nil
	}
	return c.recheck()
}

func (c *Client) unbound() {
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.watch != nil {
		c.mu.Lock()
		c.watch.stopped = true
		if c.watch.timer != nil {
			c.watch.timer.Stop()
		}
		c.mu.Unlock()
	}
}
