package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/ringchat/ringchat/api/ws"
	"github.com/ringchat/ringchat/repo"
)

// The feed of ended sessions replaces a session read per socket per
// interval with a read or two per node: every bound/4 the node reads the
// session ends written since its last read (less an overlap, for writes in
// flight and clock skew), closes its sockets of those sessions, and tells
// the hub how far its view reaches. While the reads succeed, sockets skip
// their own re-checks; when they fail, sockets fall back to them.

// maxSessionEndsPerRead bounds one read (a logout storm of 100,000 ends a
// minute puts about 15,000 in a read's window); a read with more is a
// failed read, and sockets check themselves.
const maxSessionEndsPerRead = 200_000

// WatchSessionEnds reads the feed every quarter of the hub's SessionBound
// until ctx ends. A read may take half of it: an end is acted on within
// three quarters, and a read slower than that leaves the sockets to check
// themselves rather than extend the bound.
func WatchSessionEnds(ctx context.Context, store *repo.Store, hub *ws.Hub, log *slog.Logger) {
	bound := hub.SessionBound()
	r := sessionEndReader{store: store, hub: hub, bound: bound, log: log,
		maxGap: repo.SessionEndMaxGap(store.Retention().SessionEnds)}
	tick := time.NewTicker(bound / 4)
	defer tick.Stop()
	for {
		r.read(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type sessionEndReader struct {
	store  *repo.Store
	hub    *ws.Hub
	bound  time.Duration
	maxGap time.Duration
	log    *slog.Logger

	last    time.Time // start of the last successful read (wall and monotonic); zero: none
	since   time.Time // start of the first read of the current unbroken run
	failing bool
}

func (r *sessionEndReader) read(ctx context.Context) {
	start := time.Now()
	// A new run when there is no last read, when rows this read needs may
	// have expired (a long partition), or when this node's wall clock
	// stepped since (the rows' stamps and its own no longer line up).
	newRun := r.last.IsZero() || start.Sub(r.last) > r.maxGap ||
		(start.Round(0).Sub(r.last.Round(0))-start.Sub(r.last)).Abs() > repo.ClockSkew
	from := start.Add(-repo.SessionEndOverlap)
	if !newRun {
		from = r.last.Add(-repo.SessionEndOverlap)
	}
	rctx, cancel := context.WithTimeout(ctx, r.bound/2)
	defer cancel()
	// Up to a writer ClockSkew ahead of this node.
	ends, err := r.store.SessionEndsSince(rctx, from.Round(0), start.Add(repo.ClockSkew).Round(0), maxSessionEndsPerRead)
	if err != nil {
		if ctx.Err() == nil && !r.failing {
			r.log.Warn("session end feed unreadable: sockets check their own sessions until it is back", "err", err)
		}
		r.failing = true
		return
	}
	if r.failing {
		r.log.Info("session end feed readable again", "new_run", newRun)
		r.failing = false
	}
	for _, e := range ends {
		r.hub.CloseSession(e.UserID, e.TokenHash)
	}
	if newRun {
		r.since = start
	}
	r.last = start
	r.hub.SessionsCovered(r.since, start)
}
