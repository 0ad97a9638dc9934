package repo

import (
	"context"
	"sync"
	"time"
)

// The feed of ended sessions (schema 0012): every session end writes a row
// before the session row goes, and every node reads the rows new since its
// last read (api/sessionfeed.go).

const (
	cqlInsertSessionEnd = `INSERT INTO session_ends (bucket, ended_at, token_hash, user_id) VALUES (?, ?, ?, ?) USING TTL ?`
	cqlSessionEndsSince = `SELECT user_id, token_hash FROM session_ends WHERE bucket = ? AND ended_at >= ?`

	// SessionEndBucket is the window of one session_ends partition (fixed by
	// the schema).
	SessionEndBucket = 10 * time.Second
	// SessionEndWriteTimeout bounds one feed write, so a row acknowledged was
	// stamped at most this long before it became readable.
	SessionEndWriteTimeout = 2 * time.Second
	// SessionEndOverlap is how far before its last read's start a reader
	// reads again: a row acknowledged after that read began was stamped at
	// most SessionEndWriteTimeout earlier by a clock at most 2×ClockSkew off
	// the reader's. Rows read twice close nothing twice.
	SessionEndOverlap = SessionEndWriteTimeout + 2*ClockSkew
	// DefaultSessionEndBound is chatd's default --session-end-bound.
	DefaultSessionEndBound = 5 * time.Second
	// MaxSessionEndBound is the largest --session-end-bound chatd accepts.
	MaxSessionEndBound = 10 * time.Minute
	// SessionEndsTTL is the TTL of every feed row, whatever the writer's
	// bound: a reader reads at its own bound's cadence, and nodes with other
	// bounds (the flag changed node by node) must not let a row expire before
	// the slowest allowed reader has read it.
	SessionEndsTTL = 4*MaxSessionEndBound + 50*time.Second
	// SessionEndPage is the page size of a feed read: what it holds in
	// memory at once, whatever the number of ends (about 350 KB of rows).
	SessionEndPage = 5000
)

// SessionEndMaxGap is the longest a reader may go between two reads and
// still trust the second one to hold every end since the first: past it,
// rows it needed may have expired (a node cut off from the ring longer
// than that), so its sockets must check their own sessions once.
func SessionEndMaxGap(ttl time.Duration) time.Duration {
	return ttl - SessionEndOverlap - 2*ClockSkew - 10*time.Second
}

// SessionEnd is one row of the feed.
type SessionEnd struct {
	UserID    int64
	TokenHash []byte
}

// endStamps is the clock session ends are stamped with. The wall clock is
// what other nodes read by, but it can step (a bad NTP sync, an operator):
// a stamp stepped backwards past SessionEndOverlap would never be read. So
// the stamp is also followed on the monotonic clock from the last time the
// two agreed; while they disagree by more than ClockSkew/2, a row is
// written at both times, and a reader whose clock follows either finds it.
// Each Store keeps its own (Store.endClock), from its first session end on:
// chatd makes one Store per process, so it follows the clock as a process
// does; a Store made after a step would not see that step.
type endStamps struct {
	mu     sync.Mutex
	anchor time.Time // wall and monotonic reading when they last agreed
}

func (c *endStamps) now() []time.Time {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.anchor.IsZero() {
		c.anchor = now
	}
	// anchor.Add keeps anchor's wall reading; now.Sub(anchor) is monotonic.
	followed := c.anchor.Round(0).Add(now.Sub(c.anchor))
	drift := now.Round(0).Sub(followed)
	if drift.Abs() <= ClockSkew/2 {
		c.anchor = now
		return []time.Time{now}
	}
	return []time.Time{now, followed}
}

func sessionEndBucket(t time.Time) int64 {
	ms := t.UnixMilli()
	w := SessionEndBucket.Milliseconds()
	return ms - ((ms%w)+w)%w
}

// recordSessionEnd writes the feed row of an ending session. It must be
// acknowledged before the session row is deleted: a session gone from
// sessions is then always in the feed.
func (st *Store) recordSessionEnd(ctx context.Context, userID int64, tokenHash []byte) error {
	stamps := st.endClock.now()
	ctx, cancel := context.WithTimeout(ctx, SessionEndWriteTimeout)
	defer cancel()
	ttl := ttlSeconds(st.retention.SessionEnds)
	for _, t := range stamps {
		if err := st.query(ctx, cqlInsertSessionEnd, sessionEndBucket(t), t, tokenHash, userID, ttl).ExecRelease(); err != nil {
			return translate("record session end", err)
		}
	}
	return nil
}

// SessionEndsSince hands each to the feed rows stamped from `from` to the
// end of the bucket holding `to`, a page of at most page rows at a time, in
// one slice it reuses: the read holds one page, however many ends a storm
// wrote. An error stops the read; the pages already handed on stand.
func (st *Store) SessionEndsSince(ctx context.Context, from, to time.Time, page int, each func([]SessionEnd)) error {
	if page <= 0 {
		page = SessionEndPage
	}
	buf := make([]SessionEnd, 0, page)
	for b := sessionEndBucket(from); b <= sessionEndBucket(to); b += SessionEndBucket.Milliseconds() {
		// The driver fetches the next page as this one is scanned: it too
		// holds one page (of the same size) at a time.
		iter := st.rawQuery(ctx, cqlSessionEndsSince, b, from).PageSize(page).Iter()
		var e SessionEnd
		for iter.Scan(&e.UserID, &e.TokenHash) {
			buf = append(buf, e)
			e = SessionEnd{}
			if len(buf) == page {
				each(buf)
				buf = buf[:0]
			}
		}
		if err := iter.Close(); err != nil {
			return translate("read session ends", err)
		}
	}
	if len(buf) > 0 {
		each(buf)
	}
	return nil
}
