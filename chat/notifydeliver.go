package chat

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// deliver makes one delivery of a notice. A failure that may pass is
// retried from a later bucket (a retry row: after the provider's
// Retry-After, or exponential backoff with jitter), so a failing target
// never holds its bucket back; a refusal, or the last allowed attempt,
// dead-letters it; a target its provider calls gone is removed. The error
// is only for an outcome that could not be recorded (the retry row).
func (n *Notifier) deliver(ctx context.Context, nt notice) error {
	attempts := nt.attempt + 1
	// Paused per registration: a device that registers again is tried at once.
	key := pauseKey{nt.target.UserID, nt.target.DeviceID, nt.target.UpdatedAt.UnixMilli()}
	if until, ok := n.paused.Get(key); ok && time.Now().Before(until) {
		if nt.target.Kind == eventKind && time.Since(snowflake.Time(nt.row.MsgID)) < eventPatience {
			// The operator's endpoint stalled: its events wait out the
			// pause without spending attempts (one stall would otherwise
			// dead-letter every event made during it), for a day at most.
			return n.retryLater(ctx, nt, nt.attempt, time.Until(until))
		}
		// The target timed out lately: no attempt now (each would hold its
		// bucket for the whole timeout), the notice waits out the pause. It
		// counts as an attempt, so a target that never answers ends in
		// dead letters, not in retries for ever.
		if attempts >= n.cfg.Attempts {
			n.deadLetter(ctx, nt, fmt.Errorf("push target timed out and stayed paused"), attempts)
			return nil
		}
		return n.retryLater(ctx, nt, attempts, time.Until(until))
	}
	sctx, cancel := context.WithTimeout(ctx, n.cfg.AttemptTimeout)
	err := n.send(sctx, nt)
	timedOut := err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded)
	cancel()
	switch {
	case timedOut && ctx.Err() == nil:
		n.paused.Add(key, time.Now().Add(targetPause))
	case err == nil:
		n.paused.Remove(key)
	}
	var ra *notify.RetryAfterError
	var perm *notify.PermanentError
	switch {
	case err == nil:
		n.n.sent.Add(1)
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // the lease is gone: the next holder works the bucket
	case errors.Is(err, notify.ErrGone) && nt.target.Kind == eventKind:
		// The operator's endpoint is configuration, not a registration to drop.
		n.failCounter("permanent").Add(1)
		n.deadLetter(ctx, nt, err, attempts)
		return nil
	case errors.Is(err, notify.ErrGone):
		n.n.gone.Add(1)
		dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
		defer dcancel()
		if derr := n.app.store.DeleteGoneTarget(dctx, nt.target); derr != nil {
			n.log.Warn("remove gone push target", "user", nt.target.UserID, "device", nt.target.DeviceID, "err", derr)
		}
		return nil
	case errors.As(err, &perm):
		n.failCounter("permanent").Add(1)
		n.deadLetter(ctx, nt, err, attempts)
		return nil
	case errors.As(err, &ra):
		n.failCounter("retry_after").Add(1)
		if ra.After > n.cfg.RetryMax || attempts >= n.cfg.Attempts {
			n.deadLetter(ctx, nt, err, attempts)
			return nil
		}
		return n.retryLater(ctx, nt, attempts, ra.After)
	default:
		n.failCounter("transient").Add(1)
		if attempts >= n.cfg.Attempts {
			n.deadLetter(ctx, nt, err, attempts)
			return nil
		}
		return n.retryLater(ctx, nt, attempts, backoff(n.cfg.RetryBase, n.cfg.RetryMax, attempts))
	}
}

// send makes one attempt at a notice: through its kind's sender, or, for
// an operator event, the event hook.
func (n *Notifier) send(ctx context.Context, nt notice) error {
	if nt.target.Kind == eventKind {
		return n.cfg.Events.Post(ctx, *nt.event)
	}
	t := notify.Target{Kind: notify.Kind(nt.target.Kind), Token: nt.target.Token, Topic: nt.target.Topic,
		Sandbox: nt.target.Sandbox, Endpoint: nt.target.Endpoint, P256DH: nt.target.P256DH, Auth: nt.target.Auth,
		Secret: nt.target.Secret}
	if nt.event != nil { // a bot's webhook target: the event itself
		es, ok := n.senders[t.Kind].(eventSender)
		if !ok {
			return &notify.PermanentError{Err: fmt.Errorf("push kind %s carries no events", t.Kind)}
		}
		return es.SendEvent(ctx, t, nt.event.ID, nt.event.Type, nt.event.Data)
	}
	return n.senders[t.Kind].Send(ctx, t, nt.n)
}

// eventSender is a sender that also posts events (notify/webhook's).
type eventSender interface {
	SendEvent(ctx context.Context, t notify.Target, id, typ string, data any) error
}

// eventPatience bounds how long the operator's events wait out pauses
// (their outbox rows live a day).
const eventPatience = 23 * time.Hour

// pauseKey is one registration of a device's target (zero: the operator's endpoint).
type pauseKey struct{ user, device, registered int64 }

// targetPause is how long a target that let a delivery time out gets no
// attempt: a black-holed webhook then costs its shard one timeout a pause,
// not one per bucket it appears in.
const targetPause = time.Minute

// retryLater writes the notice's retry row into the bucket of now + wait.
func (n *Notifier) retryLater(ctx context.Context, nt notice, attempts int, wait time.Duration) error {
	id, err := n.app.newID()
	if err != nil {
		return err
	}
	row := nt.row
	switch {
	case nt.event != nil:
		// Remade from the same row: its message or change, whom it is about,
		// and for a bot's event the one device it goes to.
		base := outboxEventOf(nt.event.Type)
		if nt.n.Event == repo.NotifyMention {
			base = repo.NotifyMention
		}
		row.EventID, row.Attempt, row.Event = id, attempts, eventRetryPrefix+base
		row.MsgID, _ = strconv.ParseInt(nt.n.MessageID, 10, 64)
		row.DeviceID = eventRetryDevice
		if nt.target.Kind != eventKind {
			row.UserID, row.DeviceID = nt.target.UserID, nt.target.DeviceID
		}
	default:
		row.EventID, row.UserID, row.DeviceID, row.Attempt, row.Count = id, nt.target.UserID, nt.target.DeviceID, attempts, nt.n.Count
		if nt.n.MessageID != "" { // an added notice keeps its change id
			row.MsgID, _ = strconv.ParseInt(nt.n.MessageID, 10, 64)
		}
		if nt.n.Event == repo.NotifyMention {
			row.Event = repo.NotifyMention // a mention stays one (it passes a mute)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := n.app.store.RetryOutbox(wctx, time.Now().Add(wait), row); err != nil {
		return fmt.Errorf("schedule notice retry: %w", err)
	}
	n.n.retried.Add(1)
	return nil
}

// backoff is exponential with jitter: the bound doubles from base per
// attempt up to most, and the wait is drawn from its upper half, so retries
// of many notices failing at once spread out instead of coming back together.
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
	if nt.event != nil { // which event: its webhook-id names the message or change and the member
		reason = nt.event.ID + " " + nt.event.Type + ": " + reason
	}
	if len(reason) > 500 {
		reason = reason[:500]
	}
	conv, _ := strconv.ParseInt(nt.n.ConversationID, 10, 64)
	msg, _ := strconv.ParseInt(nt.n.MessageID, 10, 64)
	n.log.Warn("notice dead-lettered", "user", nt.target.UserID, "device", nt.target.DeviceID, "kind", nt.target.Kind,
		"attempts", attempts, "err", err)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	user := nt.target.UserID
	if nt.target.Kind == eventKind {
		user = nt.row.UserID // whom a membership event is about
	}
	if derr := n.app.store.PutDeadLetter(dctx, repo.DeadLetter{UserID: user, DeviceID: nt.target.DeviceID,
		ConvID: conv, MsgID: msg, Kind: nt.target.Kind, Reason: reason, Attempts: attempts, FailedAt: time.Now().UTC()}); derr != nil {
		n.log.Warn("write dead letter", "err", derr)
	}
}
