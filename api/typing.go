package api

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
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

type convFrame struct {
	ConversationID string `json:"conversation_id"`
	UpTo           string `json:"up_to"`
}

// typing relays "user is typing" to the other members' connected devices. It
// is never stored, and relayed at most once per TypingEvery per user and
// conversation (extra frames are answered rate_limited when they carry a ref).
func (h frameHandler) typing(ctx context.Context, c *ws.Client, f ws.Frame) {
	var req convFrame
	convID, err := h.parseConvFrame(f, &req)
	if err == nil && !h.s.typingLimit.allow([2]int64{h.sess.UserID, convID}, h.s.now()) {
		if f.Ref != "" {
			replyError(c, f.Ref, repo.Errorf(repo.CodeRateLimited, "typing is relayed at most every %s", h.s.cfg.TypingEvery))
		}
		return
	}
	if err == nil {
		err = h.s.relayTyping(ctx, h.sess.UserID, convID)
	}
	h.answer(c, f, err, nil)
}

// relayTyping pushes the typing event to the other members. In a direct
// conversation whose other member blocks the typist it goes nowhere: nothing
// of a blocked user reaches the blocker. It is dropped without an error, as
// typing is never answered when it is relayed either.
func (s *Server) relayTyping(ctx context.Context, typist, convID int64) error {
	conv, members, err := s.sendAudience(ctx, convID, typist)
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
			if blocked, err := s.store.Blocks(ctx, peer, typist); err != nil || blocked {
				return err
			}
		}
	}
	return s.pushOnly(others, "typing", convID, map[string]any{"conversation_id": idStr(convID), "user_id": idStr(typist)})
}

// receipt handles delivered and read frames.
func (h frameHandler) receipt(ctx context.Context, c *ws.Client, f ws.Frame, w repo.Watermark) {
	var req convFrame
	convID, err := h.parseConvFrame(f, &req)
	if err == nil {
		var upTo int64
		if upTo, err = parseID("up_to", req.UpTo); err == nil {
			err = h.s.markReceipt(ctx, h.sess, convID, upTo, w)
		}
	}
	h.answer(c, f, err, map[string]any{})
}

func (h frameHandler) parseConvFrame(f ws.Frame, dst *convFrame) (int64, error) {
	if err := json.Unmarshal(f.Data, dst); err != nil {
		return 0, invalid("malformed %s data", f.Type)
	}
	return parseID("conversation_id", dst.ConversationID)
}

// answer replies to a frame that carries a ref: ack (when ok is not nil) or error.
func (h frameHandler) answer(c *ws.Client, f ws.Frame, err error, ok any) {
	if err != nil {
		replyError(c, f.Ref, err)
		return
	}
	if f.Ref != "" && ok != nil {
		c.Reply(f.Ref, "ack", ok)
	}
}
