package chat

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// storeDerived stores a send whose client_msg_id is a UUIDv7 without a
// lightweight transaction: its message id is derived from the client id
// (sendIDKey.messageID), so every attempt, on any node, writes the same row.
// docs/sync.md ("Sends without a claim") gives the reasoning; in short:
//
//   - fresh (the id's time within freshWindow of now): written blind, no read;
//   - late (older, up to the dedupe TTL): the row is read first; stored, the
//     send is a retry and is repaired as one; not stored, it is written, with
//     inbox rows under a fresh event id even in a pull-mode group, since
//     members' cursors may have passed the old id;
//   - group sends read first even when fresh: groups are where two messages
//     sharing an id is least rare (it grows with the square of a
//     conversation's rate), and a read finds the other one; a group send
//     writes an inbox row per member or is a large group's, so the read is a
//     small part of it. Direct conversations, where the rate is two people's,
//     are written blind unless the send carries media (a blind retry after a
//     recall would grant the revoked media again);
//   - further ahead than the clock skew: not yet (aheadError); older than
//     the dedupe TTL: refused.
func (a *App) storeDerived(ctx context.Context, w sendWrite, clientMs int64) (repo.Message, bool, error) {
	now := a.now()
	ms := idMillis(clientMs, w.conv.ID)
	if ahead := time.Duration(ms-now.UnixMilli()) * time.Millisecond; ahead > repo.ClockSkew {
		return repo.Message{}, false, aheadError(ahead)
	}
	oldest := now.Add(-a.store.Retention().Dedupe)
	if clientMs < oldest.UnixMilli() || clientMs < snowflake.Epoch {
		return repo.Message{}, false, invalid("client_msg_id is a UUIDv7 whose time is more than %s old, longer than a send stays idempotent: send with a new client_msg_id",
			a.store.Retention().Dedupe)
	}
	w.msg.ID, w.writeMicros = a.sendKey.messageID(w.msg.SenderID, w.msg.ClientMsgID, ms)
	eventID, err := a.newID()
	if err != nil {
		return repo.Message{}, false, err
	}
	if a.cfg.DebugSendDelay > 0 {
		time.Sleep(a.cfg.DebugSendDelay)
	}
	w.eventID = eventID
	eventDeadline := snowflake.Time(eventID).Add(a.cfg.SendDeadline)
	fresh := !snowflake.Time(w.msg.ID).Before(now.Add(-freshWindow(a.cfg.SendDeadline)))
	if fresh {
		// Pull-mode sync reads the timeline by message id: the row must be
		// written within the deadline of the id's time as well as the event's.
		w.deadline = minTime(snowflake.Time(w.msg.ID).Add(a.cfg.SendDeadline), eventDeadline)
	} else {
		w.deadline, w.behindCursors = eventDeadline, true
	}
	// A send with media reads first too: written blind, a retry after a
	// recall would grant the recalled media again before the row says recalled.
	if !fresh || w.conv.Kind != repo.KindDirect || len(w.mediaIDs) > 0 {
		rctx, cancel := context.WithDeadline(ctx, w.deadline)
		stored, err := a.store.GetMessage(rctx, w.conv.ID, w.msg.ID)
		cancel()
		switch {
		case repo.IsCode(err, repo.CodeNotFound):
		case err != nil:
			return repo.Message{}, false, err
		case stored.SenderID != w.msg.SenderID || stored.ClientMsgID != w.msg.ClientMsgID:
			// Another message has this id (2^-22 for two messages of one
			// conversation in one millisecond): this one cannot be stored.
			return repo.Message{}, false, repo.Errorf(repo.CodeConflict, "client_msg_id maps to the id of another message: send with a new client_msg_id")
		case stored.Recalled:
			return stored, false, nil // as a claimed retry: nothing comes back
		default:
			// A retry of a stored send: a fresh inbox event, as a claimed retry.
			w.msg, w.stored = stored, true
			w.deadline, w.behindCursors = eventDeadline, true
		}
	}
	msg, err := a.writeSend(ctx, w)
	return msg, !w.stored, err
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// aheadRetryMax is the most an ahead send is told to wait; aheadRefused is
// how far ahead a time is a device clock to be fixed rather than two clocks
// drifting apart.
const (
	aheadRetryMax = 5 * time.Second
	aheadRefused  = time.Minute
)

// aheadError answers a UUIDv7 whose time is further ahead than the clock
// skew. Never "use a new client_msg_id": the send may already be stored
// through a node whose clock is ahead too, and a new id would make a retry a
// second message. Until aheadRefused it is unavailable for as long as the id
// stays ahead; the same id is accepted then.
func aheadError(ahead time.Duration) error {
	if ahead > aheadRefused {
		return invalid("client_msg_id is a UUIDv7 whose time is %s ahead of the server's clock (at most %s allowed): the device clock is wrong; set it right. Keep this client_msg_id for this message: it is accepted once the server's clock reaches its time",
			ahead.Round(time.Millisecond), repo.ClockSkew)
	}
	return RetryLater(repo.Errorf(repo.CodeUnavailable, "client_msg_id is a UUIDv7 whose time is %s ahead of the server's clock (at most %s allowed): retry with the same client_msg_id after the retry hint, and set the device clock right",
		ahead.Round(time.Millisecond), repo.ClockSkew), min(ahead-repo.ClockSkew, aheadRetryMax))
}
