package chat

import (
	"context"
	"sync"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// relayLimiter allows one relay per key per interval. Old keys are swept as
// the map grows, so it stays bounded by the keys active in one interval.
type relayLimiter struct {
	mu    sync.Mutex
	last  map[[2]int64]time.Time
	every time.Duration
}

func newRelayLimiter(every time.Duration) *relayLimiter {
	return &relayLimiter{last: map[[2]int64]time.Time{}, every: every}
}

func (l *relayLimiter) allow(key [2]int64, now time.Time) bool {
	return l.allowEvery(key, now, l.every)
}

// allowEvery is allow with a key's own interval, at least the limiter's
// (the sweep keeps keys of the limiter's interval only, so a longer one may
// allow once early after a sweep).
func (l *relayLimiter) allowEvery(key [2]int64, now time.Time, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < max(every, l.every) {
		return false
	}
	if len(l.last) >= 100_000 {
		for k, t := range l.last {
			if now.Sub(t) >= l.every {
				delete(l.last, k)
			}
		}
	}
	l.last[key] = now
	return true
}

// Typing relays "user is typing" to the other members' connected devices.
// It is never stored, and relayed at most once per TypingEvery per user and
// conversation. In a direct conversation whose other member blocks the
// typist it goes nowhere, without an error: nothing of a blocked user
// reaches the blocker, and typing is not answered when it is relayed either.
//
// Codes: rate_limited (again within TypingEvery); permission_denied (not a
// member); not_found (no conversation).
func (a *App) Typing(ctx context.Context, me repo.Session, convID int64) error {
	typist := me.UserID
	if !a.typingLimit.allow([2]int64{typist, convID}, a.now()) {
		return repo.Errorf(repo.CodeRateLimited, "typing is relayed at most every %s", a.cfg.TypingEvery)
	}
	conv, members, err := a.sendAudience(ctx, convID, typist)
	if err != nil {
		return err
	}
	others := make([]int64, 0, len(members))
	for _, id := range members {
		if id != typist {
			others = append(others, id)
		}
	}
	if conv.Kind == repo.KindDirect {
		for _, peer := range others {
			if blocked, err := a.store.Blocks(ctx, peer, typist); err != nil || blocked {
				return err
			}
		}
	}
	return a.pushOnly(others, "typing", map[string]any{"conversation_id": IDString(convID), "user_id": IDString(typist)})
}
