package ws

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// CloseSessionEnded (1008, policy violation) closes a socket whose
// credentials ended: its token expired, or its session was found gone.
const CloseSessionEnded = 1008

// Bounded is a Handler whose socket may live only while its session does.
// The hub closes the socket with CloseSessionEnded at Expiry, and when
// CloseSession names its session (the node's reader of ended sessions).
// It asks Live once the socket is registered and OnConnect has returned (so
// the node's route for it is written and a logout elsewhere can find it);
// after that only while the node's view of ended sessions does not reach
// the socket (see Hub.SessionsCovered): every Config.SessionCheckInterval
// (jittered), and when Client.SessionLive finds its last check older than
// Config.SessionBound. A logout normally reaches the socket at once through
// CloseDevice; the feed and the re-checks bound how long it lives when that
// close order is lost on the way (a full queue, a failed forward, a missing
// route).
type Bounded interface {
	Handler
	Expiry() time.Time
	// SessionKey names the session for CloseSession (the token's hash).
	SessionKey() []byte
	// Live reads the session: false when it has ended; an error when the
	// store could not say (the socket stays: it fails open).
	Live(ctx context.Context) (bool, error)
}

// sessionWatch is a Bounded socket's re-check state.
type sessionWatch struct {
	b       Bounded
	key     []byte
	checked atomic.Int64 // hub clock (Hub.clock) at the start of the last own check that found the session live; 0: none
	timer   *time.Timer  // next periodic check; guarded by Client.mu
	stopped bool         // the socket has ended; guarded by Client.mu
}

// bound arms the socket's expiry; the timers are stopped when the socket
// ends, so a long-lived token costs a closed socket nothing.
func (c *Client) bound(b Bounded) {
	d := time.Until(b.Expiry())
	c.expiry = time.AfterFunc(max(d, 0), func() { c.close(CloseSessionEnded, "session expired") })
	c.watch = &sessionWatch{b: b, key: b.SessionKey()}
}

// checkLive runs after OnConnect, beside the read loop: one own check,
// which a session that ended while the socket was being set up fails (the
// feed's read of that end may have come before the socket was registered).
// It arms the periodic re-checks.
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
	began := c.hub.clock()
	live, err := c.watch.b.Live(c.ctx)
	if err != nil {
		// Not recorded: an unanswered check vouches for nothing, so the
		// next frame and the next timer ask again.
		c.hub.log.Debug("websocket session check failed; the socket stays", "user", c.id.UserID, "err", err)
		return c.ctx.Err() == nil
	}
	if !live {
		c.close(CloseSessionEnded, "session ended")
		return false
	}
	c.watch.checked.Store(began)
	return true
}

// verified is the hub clock at the latest point at which the socket's
// session is known to have been live: its own last check, or, once that
// check belongs to the feed reader's current unbroken run of reads, the
// start of the reader's last read (an end since the own check was in one
// of those reads, each of which closed this socket's session if listed).
func (c *Client) verified() int64 {
	own := c.watch.checked.Load()
	if cov := c.hub.covered.Load(); cov != nil && own != 0 && own >= cov.since && cov.at > own {
		return cov.at
	}
	return own
}

// armRecheck schedules the next check at 75%..125% of the interval, so a
// node's sockets (all set up in a reconnect storm) do not read at once. A
// check finding the session verified within SessionBound (the feed is
// being read) reads nothing and only arms the next, unless the socket's own
// last check is older than SessionBackstop: the feed vouches only for ends
// replicated in time for its reads.
func (c *Client) armRecheck() {
	iv := c.hub.cfg.SessionCheckInterval
	d := iv*3/4 + rand.N(iv/2+1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.watch.stopped {
		return
	}
	c.watch.timer = time.AfterFunc(d, func() {
		if (c.fresh() && !c.backstopDue()) || c.recheck() {
			c.armRecheck()
		}
	})
}

// backstopDue reports whether the socket's own last check is older than
// SessionBackstop.
func (c *Client) backstopDue() bool {
	own := c.watch.checked.Load()
	return own == 0 || c.hub.clock()-own >= int64(c.hub.cfg.SessionBackstop)
}

// fresh reports whether the session was verified within SessionBound.
func (c *Client) fresh() bool {
	v := c.verified()
	return v != 0 && c.hub.clock()-v < int64(c.hub.cfg.SessionBound)
}

// SessionLive reports whether the socket's session is live, reading the
// store only when the session was not verified within Config.SessionBound;
// a dead session closes the socket with CloseSessionEnded. Handlers call it
// before acting on a frame, so a socket whose close order was lost cannot
// act on a session ended longer than that ago. A socket without a session
// bound to it is always live.
func (c *Client) SessionLive() bool {
	if c.watch == nil || c.fresh() {
		return c.ctx.Err() == nil
	}
	return c.recheck()
}

// endsSession reports whether the socket is bound to the session key.
func (c *Client) endsSession(key []byte) bool {
	return c.watch != nil && bytes.Equal(c.watch.key, key)
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

// coverage is how far the node's reader of ended sessions reaches, on the
// hub clock: since is the first read of its current unbroken run, at the
// start of its last successful read.
type coverage struct{ since, at int64 }

// SessionsCovered records that every session end readable at `at` and
// since `since` has been passed to CloseSession: a read that began at at
// succeeded, and every read from since to at did, each overlapping the
// last. Call it after the CloseSession calls of that read.
func (h *Hub) SessionsCovered(since, at time.Time) {
	h.covered.Store(&coverage{since: h.clockAt(since), at: h.clockAt(at)})
}

// SessionsCoveredAge is how long ago the last successful read of ended
// sessions began (-1: none yet).
func (h *Hub) SessionsCoveredAge() time.Duration {
	if cov := h.covered.Load(); cov != nil {
		return time.Duration(h.clock() - cov.at)
	}
	return -1
}

// SessionChecked reports whether the device has sockets on this node and
// each has had its session check since it was registered answered (the
// check every socket makes once set up): after it, only a later check or
// the feed can end them. Tests wait on it.
func (h *Hub) SessionChecked(userID, deviceID int64) bool {
	n, checked := 0, true
	h.each(userID, func(c *Client) {
		if c.id.DeviceID == deviceID {
			n++
			checked = checked && c.watch != nil && c.watch.checked.Load() != 0
		}
	})
	return n > 0 && checked
}

// SessionBound is Config.SessionBound (its default applied).
func (h *Hub) SessionBound() time.Duration { return h.cfg.SessionBound }

// CloseSession closes the user's sockets bound to the session key with
// CloseSessionEnded.
func (h *Hub) CloseSession(userID int64, key []byte) {
	h.each(userID, func(c *Client) {
		if c.endsSession(key) {
			c.close(CloseSessionEnded, "session ended")
		}
	})
}

// clock is the hub's monotonic clock in nanoseconds, always above 0: a
// wall clock step moves no check's age.
func (h *Hub) clock() int64 { return h.clockAt(time.Now()) }

func (h *Hub) clockAt(t time.Time) int64 { return int64(t.Sub(h.epoch)) + 1 }
