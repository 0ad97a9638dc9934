package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// The feed of ended sessions replaces a session read per socket per
// interval with a read or two per node: every bound/4 the node reads the
// session ends written since its last read (less an overlap, for writes in
// flight and clock skew), closes its sockets of those sessions, and tells
// the hub how far its view reaches. While the reads succeed, sockets skip
// their own re-checks; when they fail, sockets fall back to them.

// WatchSessionEnds reads the feed every quarter of the hub's SessionBound
// until ctx ends. A read may take half of it: an end is acted on within
// three quarters, and a read slower than that leaves the sockets to check
// themselves rather than extend the bound. A read goes page by page
// (repo.SessionEndPage rows), closing sockets as it goes, so a logout storm
// costs time, not memory: a read is failed only when it runs out of time.
func WatchSessionEnds(ctx context.Context, store *repo.Store, hub *ws.Hub, log *slog.Logger) {
	bound := hub.SessionBound()
	r := newSessionEndReader(store, hub, log, repo.SessionEndPage)
	tick := time.NewTicker(bound / 4)
	defer tick.Stop()
	for {
		_, _ = r.read(ctx) // a failure is logged and leaves sockets to themselves
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ReadSessionEnds reads the feed once, as a reader whose last read began at
// last, page rows at a time, closing hub's sockets of the sessions it lists,
// and tells how many rows it listed: one step of WatchSessionEnds, for a
// tool or a test that drives the feed itself.
func ReadSessionEnds(ctx context.Context, store *repo.Store, hub *ws.Hub, log *slog.Logger, last time.Time, page int) (int, error) {
	r := newSessionEndReader(store, hub, log, page)
	r.last, r.since = last, last
	return r.read(ctx)
}

func newSessionEndReader(store *repo.Store, hub *ws.Hub, log *slog.Logger, page int) *sessionEndReader {
	return &sessionEndReader{store: store, hub: hub, bound: hub.SessionBound(), log: log, page: page,
		maxGap: repo.SessionEndMaxGap(store.Retention().SessionEnds)}
}

type sessionEndReader struct {
	store  *repo.Store
	hub    *ws.Hub
	bound  time.Duration
	maxGap time.Duration
	log    *slog.Logger
	page   int // rows a read holds at once

	last    time.Time // start of the last successful read (wall and monotonic); zero: none
	since   time.Time // start of the first read of the current unbroken run
	failing bool
}

// read reads the feed once and tells how many rows it listed.
func (r *sessionEndReader) read(ctx context.Context) (int, error) {
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
	// Up to a writer ClockSkew ahead of this node. Sockets close page by
	// page; a read that fails part-way has closed some, and closing twice
	// closes nothing twice.
	n := 0
	err := r.store.SessionEndsSince(rctx, from.Round(0), start.Add(repo.ClockSkew).Round(0), r.page, func(ends []repo.SessionEnd) {
		n += len(ends)
		for _, e := range ends {
			r.hub.CloseSession(e.UserID, e.TokenHash)
		}
	})
	if err != nil {
		if ctx.Err() == nil && !r.failing {
			r.log.Warn("session end feed unreadable: sockets check their own sessions until it is back", "err", err, "listed", n)
		}
		r.failing = true
		return n, err
	}
	if r.failing {
		r.log.Info("session end feed readable again", "new_run", newRun)
		r.failing = false
	}
	if newRun {
		r.since = start
	}
	r.last = start
	r.hub.SessionsCovered(r.since, start)
	return n, nil
}
