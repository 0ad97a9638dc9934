package chat

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/ringchat/ringchat/repo"
)

// The before-send check: an operator's service (hook.BeforeSend over HTTP)
// sees every message body before it is stored, a send's or an edit's, and
// accepts it, rejects it with a reason, or replaces the body. It runs before
// the send is admitted, so a slow check holds no send slot and no id, and it
// cannot be passed by sending something harmless and editing it later.

// Verdict actions.
const (
	VerdictAccept  = "accept"
	VerdictReject  = "reject"
	VerdictReplace = "replace"
)

// Checked events.
const (
	CheckSend = "message.send"
	CheckEdit = "message.edit"
)

// BeforeSendHook asks the operator's check for a verdict on m; an error means
// it gave none (unreachable, timed out, an answer it could not read).
type BeforeSendHook interface {
	Check(ctx context.Context, m BeforeSendMessage) (Verdict, error)
}

// BeforeSendMessage is what the check is shown.
type BeforeSendMessage struct {
	Event       string // CheckSend or CheckEdit
	SenderID    int64
	ConvID      int64
	MsgID       int64 // the message edited; 0 for a send
	ClientMsgID string
	Body        string
	MediaIDs    []int64
	ReplyTo     int64
}

// Verdict is the check's answer.
type Verdict struct {
	Action string // VerdictAccept, VerdictReject or VerdictReplace
	Reason string // a rejection's, shown to the sender
	Body   string // a replacement's, stored instead
}

// BeforeSendConfig tunes the check; zero values take the defaults.
type BeforeSendConfig struct {
	Timeout time.Duration // the whole check, waiting for a slot included; default 1 s
	// FailClosed refuses a message (unavailable, retry hint) when the check
	// gives no verdict; otherwise (fail open) the message goes through as sent.
	FailClosed bool
	Parallel   int // checks in flight on one node; default 64
}

// maxReasonRunes bounds the rejection reason passed on to the sender.
const maxReasonRunes = 200

// beforeSend is the node's check and its counters.
type beforeSend struct {
	hook       BeforeSendHook
	cfg        BeforeSendConfig
	slots      chan struct{}
	accepted   atomic.Int64
	rejected   atomic.Int64
	replaced   atomic.Int64
	failed     atomic.Int64
	lastLogged atomic.Int64 // unix nanos of the last failure logged
}

func newBeforeSend(hook BeforeSendHook, cfg BeforeSendConfig, m Metrics) *beforeSend {
	if hook == nil {
		return nil
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 64
	}
	b := &beforeSend{hook: hook, cfg: cfg, slots: make(chan struct{}, cfg.Parallel)}
	for _, c := range []struct {
		name, help string
		n          *atomic.Int64
	}{
		{"ringchat_before_send_accepted_total", "Messages the before-send check accepted as sent.", &b.accepted},
		{"ringchat_before_send_rejected_total", "Messages the before-send check rejected.", &b.rejected},
		{"ringchat_before_send_replaced_total", "Messages whose body the before-send check replaced.", &b.replaced},
		{"ringchat_before_send_failed_total", "Checks that gave no verdict (unreachable, timed out, an unreadable or invalid answer); the fail policy decided.", &b.failed},
	} {
		m.Counter(c.name, c.help, func() float64 { return float64(c.n.Load()) })
	}
	return b
}

// checkBody runs the before-send check on m and returns the body to store:
// m.Body, or the check's replacement.
//
// Codes: permission_denied (rejected, with the check's reason); unavailable
// (no verdict and the policy is fail closed).
func (a *App) checkBody(ctx context.Context, m BeforeSendMessage, hasMedia bool) (string, error) {
	b := a.beforeSend
	if b == nil {
		return m.Body, nil
	}
	// Not cancelled with the caller: a client that leaves mid-check must not
	// turn "no verdict" (fail open) into a way past the check; the send
	// itself completes once admitted, whatever the client does.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.Timeout)
	defer cancel()
	v, err := b.ask(ctx, m)
	if err == nil {
		switch v.Action {
		case VerdictAccept:
			b.accepted.Add(1)
			return m.Body, nil
		case VerdictReject:
			b.rejected.Add(1)
			return "", repo.Errorf(repo.CodePermissionDenied, "rejected by this server's message policy: %s", reason(v.Reason))
		case VerdictReplace:
			// The replacement obeys the bounds the sender's body did; one that
			// does not is the check's fault, not the sender's.
			if err = a.cfg.Limits.validateBody(v.Body, hasMedia); err == nil {
				b.replaced.Add(1)
				return v.Body, nil
			}
			err = errors.Join(errors.New("replacement body out of bounds"), err)
		default:
			err = errors.New("unknown action " + strings.ToValidUTF8(v.Action[:min(len(v.Action), 32)], "?"))
		}
	}
	b.failed.Add(1)
	b.logFailure(a, m, err)
	if b.cfg.FailClosed {
		return "", &repo.Error{Code: repo.CodeUnavailable, Message: "the server could not check this message; retry with the same client_msg_id", Cause: err}
	}
	return m.Body, nil
}

// ask waits for a slot, within ctx, and asks the hook.
func (b *beforeSend) ask(ctx context.Context, m BeforeSendMessage) (Verdict, error) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return Verdict{}, errors.New("every check slot was busy until the timeout")
	}
	defer func() { <-b.slots }()
	return b.hook.Check(ctx, m)
}

// logFailure logs a failed check at most once every 10 s: an outage of the
// check would otherwise log every message.
func (b *beforeSend) logFailure(a *App, m BeforeSendMessage, err error) {
	now, last := time.Now().UnixNano(), b.lastLogged.Load()
	if now-last < int64(10*time.Second) || !b.lastLogged.CompareAndSwap(last, now) {
		return
	}
	a.log.Warn("before-send check gave no verdict", "err", err, "event", m.Event, "fail_closed", b.cfg.FailClosed,
		"failed_total", b.failed.Load())
}

// reason is the check's rejection reason made fit to show: one line, no
// control or format characters (bidi overrides), bounded; a default when it
// gave none.
func reason(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxReasonRunes {
		s = string(r[:maxReasonRunes])
	}
	if s == "" {
		return "no reason given"
	}
	return s
}
