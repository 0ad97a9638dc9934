package chat

import (
	"sync"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// maxCoalesced bounds the (member, conversation) pairs a node tracks; past it
// receipts are sent at once, uncoalesced, until the map is swept.
const maxCoalesced = 100_000

// receiptCoalescer sends at most one receipt event per member and
// conversation per window: the first at once, later moves within the window
// as one flush at its end carrying the newest marks. The watermark itself is
// always stored at once; only the event waits. A node that stops loses its
// pending flushes (the stored watermark and GET .../receipts still have them).
type receiptCoalescer struct {
	mu      sync.Mutex
	every   time.Duration
	pending map[[2]int64]*coalesced
	flush   func(convID int64, marks repo.Marks)
	limit   *sendLimiter
}

type coalesced struct {
	sentAt  time.Time
	marks   repo.Marks
	waiting bool // a flush is scheduled
}

func newReceiptCoalescer(every time.Duration, perSec float64, burst int, flush func(int64, repo.Marks)) *receiptCoalescer {
	return &receiptCoalescer{every: every, pending: map[[2]int64]*coalesced{}, flush: flush, limit: newSendLimiter(perSec, burst)}
}

// allow bounds each user's receipt frames (each costs reads even when nothing moves).
func (rc *receiptCoalescer) allow(userID int64, now time.Time) error {
	if rc.limit.allow(userID, now) != nil {
		return repo.Errorf(repo.CodeRateLimited, "receipts too fast: at most %.0f a second", float64(rc.limit.perSec))
	}
	return nil
}

// coalesce records a forward move; true means a flush will send it (do not
// send now), false means send now.
func (rc *receiptCoalescer) coalesce(convID int64, m repo.Marks, now time.Time) bool {
	if rc.every <= 0 {
		return false
	}
	key := [2]int64{m.UserID, convID}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e := rc.pending[key]
	if e == nil {
		if len(rc.pending) >= maxCoalesced && !rc.sweep(now) {
			return false
		}
		rc.pending[key] = &coalesced{sentAt: now, marks: m}
		return false
	}
	e.marks.Delivered, e.marks.Read = max(e.marks.Delivered, m.Delivered), max(e.marks.Read, m.Read)
	if e.waiting {
		return true
	}
	if wait := rc.every - now.Sub(e.sentAt); wait > 0 {
		e.waiting = true
		time.AfterFunc(wait, func() { rc.fire(key) })
		return true
	}
	e.sentAt = now
	return false
}

func (rc *receiptCoalescer) fire(key [2]int64) {
	rc.mu.Lock()
	e := rc.pending[key]
	e.waiting, e.sentAt = false, time.Now()
	m := e.marks
	rc.mu.Unlock()
	rc.flush(key[1], m)
}

// sweep drops idle entries; false when none could go.
func (rc *receiptCoalescer) sweep(now time.Time) bool {
	n := len(rc.pending)
	for k, e := range rc.pending {
		if !e.waiting && now.Sub(e.sentAt) >= rc.every {
			delete(rc.pending, k)
		}
	}
	return len(rc.pending) < n
}
