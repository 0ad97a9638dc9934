package ws

import (
	"context"
	"time"
)

// CloseSessionEnded (1008, policy violation) closes a socket whose
// credentials ended: its token expired, or its session was found gone
// right after the socket started (a logout that raced the upgrade).
const CloseSessionEnded = 1008

// Bounded is a Handler whose socket may live only while its session does.
// The hub closes the socket with CloseSessionEnded at Expiry, and once the
// socket is registered and OnConnect has returned (so the node's route for
// it is written and a logout elsewhere can find it) it asks Live once: a
// session that ended while the socket was being set up ends the socket.
// Logouts after that reach the socket through CloseDevice.
type Bounded interface {
	Handler
	Expiry() time.Time
	Live(ctx context.Context) bool
}

// bound arms the socket's expiry; the timer is stopped when the socket ends,
// so a long-lived token costs a closed socket nothing.
func (c *Client) bound(b Bounded) {
	d := time.Until(b.Expiry())
	c.expiry = time.AfterFunc(max(d, 0), func() { c.close(CloseSessionEnded, "session expired") })
}

// checkLive runs after OnConnect, beside the read loop.
func (c *Client) checkLive(h Handler) {
	if b, ok := h.(Bounded); ok && c.ctx.Err() == nil && !b.Live(c.ctx) {
		c.close(CloseSessionEnded, "session ended")
	}
}

func (c *Client) unbound() {
	if c.expiry != nil {
		c.expiry.Stop()
	}
}
