package ws

import (
	"net/http"
	"time"
)

// Config bounds each socket. Zero values take the defaults.
type Config struct {
	// SendQueue is how many frames a socket may hold accepted but not yet
	// written before it is cut off as slow (default 256). The queue is
	// allocated as frames arrive, so an idle socket costs nothing for it.
	SendQueue int
	// WriteTimeout bounds one frame's write (default 10s).
	WriteTimeout time.Duration
	// PingInterval is how often the server pings (default 25s).
	PingInterval time.Duration
	// PongTimeout closes a socket from which nothing was read this long
	// (default 60s). Keep it above PingInterval.
	PongTimeout time.Duration
	// MaxFrameBytes is the largest client frame; a larger one closes the
	// socket with 1009 (default 16 KiB).
	MaxFrameBytes int64
	// CheckOrigin vets the upgrade request's Origin header. The default
	// accepts every origin: browsers authenticate with single-use tickets,
	// not cookies, so a foreign page cannot ride on a user's session.
	CheckOrigin func(*http.Request) bool
	// OnConnect, if set, is called once a socket is registered, on a
	// goroutine of its own while the socket already reads frames (perhaps
	// after Serve returned). OnDisconnect, if set, is called after it is
	// unregistered, always after its OnConnect returned, on the socket's
	// reader goroutine; Shutdown waits for OnDisconnect.
	OnConnect    func(Identity)
	OnDisconnect func(Identity)
	// SessionBound is how long ago a socket's session (see Bounded) may
	// have been verified for the socket to act on a client frame; older, it
	// reads its session first (default 5s). While the node reads the feed
	// of ended sessions, the feed keeps every socket verified.
	SessionBound time.Duration
	// SessionCheckInterval is how often a socket bound to a session
	// re-reads it, jittered by a quarter either way, while the feed does
	// not verify it (default 30s): the longest a socket outlives a logout
	// whose close order was lost when the feed cannot be read.
	SessionCheckInterval time.Duration
	// SessionBackstop is how old a socket's own last check may grow while
	// the feed vouches for it before the socket reads its session anyway
	// (default 5m), on its next periodic tick: an end the feed never
	// delivers (replicated to this DC after the readers' overlap) closes the
	// socket within SessionBackstop + 1.25 × SessionCheckInterval, not at
	// its token's expiry. Slow, as the feed is the fast path: 100,000
	// sockets read 333 sessions a second at 5m.
	SessionBackstop time.Duration
}

func (c Config) withDefaults() Config {
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 60 * time.Second
	}
	if c.SessionBound <= 0 {
		c.SessionBound = 5 * time.Second
	}
	if c.SessionCheckInterval <= 0 {
		c.SessionCheckInterval = 30 * time.Second
	}
	if c.SessionBackstop <= 0 {
		c.SessionBackstop = 5 * time.Minute
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 16 << 10
	}
	if c.CheckOrigin == nil {
		c.CheckOrigin = func(*http.Request) bool { return true }
	}
	return c
}
