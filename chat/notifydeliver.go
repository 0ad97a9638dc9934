package chat

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
)

// sendTimeout bounds one provider call.
const sendTimeout = 15 * time.Second

// deliver sends one notice, retrying transient failures with exponential
// backoff and full jitter, waiting out a provider's Retry-After, removing a
// target its provider calls gone, and dead-lettering it past the bound.
func (n *Notifier) deliver(ctx context.Context, nt notice) {
	sender := n.senders[notify.Kind(nt.target.Kind)]
	t := notify.Target{Kind: notify.Kind(nt.target.Kind), Token: nt.target.Token, Topic: nt.target.Topic,
		Sandbox: nt.target.Sandbox, Endpoint: nt.target.Endpoint, P256DH: nt.target.P256DH, Auth: nt.target.Auth,
		Secret: nt.target.Secret}
	var last error
	for attempt := 1; attempt <= n.cfg.Attempts; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err := sender.Send(sctx, t, nt.n)
		cancel()
		if err == nil {
			n.n.sent.Add(1)
			return
		}
		if ctx.Err() != nil {
			return // the shard was given up: its next holder sends it
		}
		last = err
		var wait time.Duration
		var ra *notify.RetryAfterError
		var perm *notify.PermanentError
		switch {
		case errors.Is(err, notify.ErrGone):
			n.n.gone.Add(1)
			dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
			if derr := n.app.store.DeleteGoneTarget(dctx, nt.target); derr != nil {
				n.log.Warn("remove gone push target", "user", nt.target.UserID, "device", nt.target.DeviceID, "err", derr)
			}
			dcancel()
			return
		case errors.As(err, &perm):
			n.failCounter("permanent").Add(1)
			n.deadLetter(ctx, nt, err, attempt)
			return
		case errors.As(err, &ra):
			n.failCounter("retry_after").Add(1)
			if ra.After > n.cfg.RetryMax {
				n.deadLetter(ctx, nt, err, attempt)
				return
			}
			wait = ra.After
		default:
			n.failCounter("transient").Add(1)
			wait = backoff(n.cfg.RetryBase, n.cfg.RetryMax, attempt)
		}
		if attempt == n.cfg.Attempts {
			break
		}
		n.n.retried.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	n.deadLetter(ctx, nt, last, n.cfg.Attempts)
}

// backoff is full jitter over an exponential bound: retries of many notices
// failing at once spread out instead of coming back together.
func backoff(base, most time.Duration, attempt int) time.Duration {
	bound := base << min(attempt-1, 20)
	if bound > most || bound <= 0 {
		bound = most
	}
	return bound/2 + rand.N(bound/2+1)
}

func (n *Notifier) deadLetter(ctx context.Context, nt notice, err error, attempts int) {
	n.n.dead.Add(1)
	reason := err.Error()
	if len(reason) > 500 {
		reason = reason[:500]
	}
	conv, _ := strconv.ParseInt(nt.n.ConversationID, 10, 64)
	msg, _ := strconv.ParseInt(nt.n.MessageID, 10, 64)
	n.log.Warn("notice dead-lettered", "user", nt.target.UserID, "device", nt.target.DeviceID, "kind", nt.target.Kind,
		"attempts", attempts, "err", err)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if derr := n.app.store.PutDeadLetter(dctx, repo.DeadLetter{UserID: nt.target.UserID, DeviceID: nt.target.DeviceID,
		ConvID: conv, MsgID: msg, Kind: nt.target.Kind, Reason: reason, Attempts: attempts, FailedAt: time.Now().UTC()}); derr != nil {
		n.log.Warn("write dead letter", "err", derr)
	}
}
