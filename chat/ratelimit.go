package chat

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ringchat/ringchat/repo"
)

// sendLimiter bounds each user's send rate on this node (a token bucket per
// user). With N nodes behind a balancer a user gets at most N times the rate;
// the bound is against floods, not an exact quota. Idle buckets are swept, so
// memory follows the users active in the last few minutes.
type sendLimiter struct {
	mu      sync.Mutex
	perSec  rate.Limit
	burst   int
	buckets map[int64]*userBucket
	swept   time.Time
}

type userBucket struct {
	lim  *rate.Limiter
	used time.Time
}

func newSendLimiter(perSec float64, burst int) *sendLimiter {
	return &sendLimiter{perSec: rate.Limit(perSec), burst: burst, buckets: map[int64]*userBucket{}}
}

// allow takes one token for userID, or says how long to wait.
func (l *sendLimiter) allow(userID int64, now time.Time) error {
	if l == nil || l.perSec <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for id, b := range l.buckets {
			if now.Sub(b.used) > 5*time.Minute {
				delete(l.buckets, id)
			}
		}
		l.swept = now
	}
	b := l.buckets[userID]
	if b == nil {
		b = &userBucket{lim: rate.NewLimiter(l.perSec, l.burst)}
		l.buckets[userID] = b
	}
	b.used = now
	if !b.lim.AllowN(now, 1) {
		return repo.Errorf(repo.CodeRateLimited, "sending too fast: at most %.0f messages a second (bursts of %d)", float64(l.perSec), l.burst)
	}
	return nil
}
