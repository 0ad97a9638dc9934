package chat

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// pullChatMoveEvery bounds how often one node moves a pull-mode group's rows
// in its members' chat lists; pullMoveSlots how many such moves one node runs
// at once (past it a move is skipped: the group's next message moves it).
const (
	pullChatMoveEvery = time.Second
	pullMoveMembers   = 100
	pullMoveSlots     = 4
	firstVersionSlots = 4 // writes of first members versions at once (keyedWork)
)

// pullMoveEvery is how often one node moves a pull-mode group of members
// members: pullChatMoveEvery per pullMoveMembers of them, so a group's moves
// cost a node at most about 2 × pullMoveMembers statements a second whatever
// its size (a 1,000-member group: every 10 s).
func pullMoveEvery(members int) time.Duration {
	return pullChatMoveEvery * time.Duration(max(1, members/pullMoveMembers))
}

// SendInput is one message to send. MediaIDs and ReplyTo are ids the
// adapter has parsed (0: no reply).
type SendInput struct {
	ConvID      int64
	ClientMsgID string
	Body        string
	MediaIDs    []int64
	ReplyTo     int64
}

// SendResult is a send's outcome. Payload is the message's JSON as stored
// and pushed (MessageOut's), so an adapter answers without encoding the body
// again; nil when the send rendered none (a retry answered with a recalled
// message).
type SendResult struct {
	Message repo.Message
	Created bool // false: a retry of an earlier send, answered with it
	Payload []byte
}

// Send stores a message and its inbox events, then pushes it to every
// member's connected devices on any node, at most once per socket.
//
// Acknowledged means durable: it returns success only after the message row
// and every push-mode member's inbox row are written at the configured
// consistency, within SendDeadline of the id's creation (docs/sync.md says
// why). A retry with the same ClientMsgID returns the same message (Created
// false), a recalled one without writing anything. A send over the node's
// bound waits for a slot while ctx lives; once admitted it completes whatever
// happens to ctx (within ctx's deadline, or RequestTimeout without one), so
// a client that leaves never leaves it half-written.
//
// Codes: invalid_argument (client_msg_id, body bounds, media not the
// sender's, not ready or too many, reply_to not in the conversation or
// recalled, a UUIDv7 too old or a minute ahead); too_large (body bytes);
// permission_denied (not a member; the direct peer blocks the sender; the
// before-send check rejected it, with its reason); not_found (no
// conversation); conflict (client_msg_id used in another
// conversation, or mapping to another message); rate_limited (the sender's
// rate on this node); unavailable (shed at the node's bound, the deadline
// overrun, the id lease gone, a UUIDv7 ahead by less than a minute, the
// before-send check failing closed, each with its retry hint: RetryAfter).
func (a *App) Send(ctx context.Context, me repo.Session, in SendInput) (SendResult, error) {
	if err := validateClientMsgID(in.ClientMsgID); err != nil {
		return SendResult{}, err
	}
	if err := a.sendLimit.allow(me.UserID, a.now()); err != nil {
		return SendResult{}, err
	}
	if err := a.cfg.Limits.validateBody(in.Body, len(in.MediaIDs) > 0); err != nil {
		return SendResult{}, err
	}
	// Checked before admission: a slow check holds no send slot. Only a
	// member's sends reach it (the audience is read again, authoritatively,
	// once admitted). A retry is checked again; one the first attempt stored
	// answers with what it stored.
	if a.beforeSend != nil {
		if _, _, err := a.sendAudience(ctx, in.ConvID, me.UserID); err != nil {
			return SendResult{}, err
		}
	}
	body, err := a.checkBody(ctx, BeforeSendMessage{Event: CheckSend, SenderID: me.UserID, ConvID: in.ConvID,
		ClientMsgID: in.ClientMsgID, Body: in.Body, MediaIDs: in.MediaIDs, ReplyTo: in.ReplyTo}, len(in.MediaIDs) > 0)
	if err != nil {
		return SendResult{}, err
	}
	in.Body = body
	work, cancel := a.detached(ctx)
	defer cancel()
	var res SendResult
	res.Message, res.Created, err = a.admitSend(ctx, work, func() (repo.Message, bool, error) {
		return a.storeSend(work, me, in, &res.Payload)
	})
	if err != nil {
		return SendResult{}, err
	}
	return res, nil
}

// detached is ctx without its cancellation but with its values and its
// deadline, or RequestTimeout from now if it has none (a socket's frame).
func (a *App) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	work := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(work, deadline)
	}
	return context.WithTimeout(work, a.cfg.RequestTimeout)
}

// admitSend runs store once the gate admits it. The slot is given back even
// if store panics (the socket recovers a frame's panic and lives on), and
// only the ring's failure shrinks the bound: a send cut short by its own
// caller (a client that left, a socket closing) says nothing about the ring.
func (a *App) admitSend(waitCtx, ctx context.Context, store func() (repo.Message, bool, error)) (msg repo.Message, created bool, err error) {
	leave, err := a.sendGate.enter(waitCtx, time.Now(), a.sendWaitBudget(ctx))
	if err != nil {
		return repo.Message{}, false, err
	}
	admitted := time.Now()
	defer func() {
		cancelled := errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled)
		leave(time.Since(admitted), !cancelled && repo.IsCode(err, repo.CodeUnavailable))
	}()
	return store()
}

// sendWaitBudget is how long a send may wait for a slot: what its request
// has left beyond SendDeadline, so the send still has all of it once admitted.
func (a *App) sendWaitBudget(ctx context.Context) time.Duration {
	left := a.cfg.RequestTimeout
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	return left - a.cfg.SendDeadline
}

// storeSend is a validated, admitted send: audience and block checks, the
// idempotency claim (or, for a UUIDv7 client_msg_id, its derived id), the
// writes, and the push.
func (a *App) storeSend(ctx context.Context, me repo.Session, in SendInput, rendered *[]byte) (repo.Message, bool, error) {
	convID := in.ConvID
	conv, recipients, err := a.sendAudience(ctx, convID, me.UserID)
	if err != nil {
		return repo.Message{}, false, err
	}
	var positions *[2]repo.DirectPosition
	if conv.Kind == repo.KindDirect {
		if positions, err = a.directPositions(ctx, convID, me.UserID, recipients); err != nil {
			return repo.Message{}, false, err
		}
	}
	media, err := a.attachMedia(ctx, me.UserID, in.MediaIDs)
	if err != nil {
		return repo.Message{}, false, err
	}
	w := sendWrite{conv: conv, recipients: recipients, mediaIDs: in.MediaIDs, positions: positions, rendered: rendered,
		msg: repo.Message{ConvID: convID, SenderID: me.UserID, ClientMsgID: in.ClientMsgID,
			Body: in.Body, Media: media, ReplyTo: in.ReplyTo}}
	if clientMs, ok := uuidV7Millis(in.ClientMsgID); ok && a.sendKey != nil {
		return a.storeDerived(ctx, w, clientMs)
	}
	return a.storeClaimed(ctx, w)
}

// storeClaimed makes a send idempotent with a lightweight transaction on
// send_dedupe: client_msg_ids that carry no time.
func (a *App) storeClaimed(ctx context.Context, w sendWrite) (repo.Message, bool, error) {
	msgID, err := a.newID()
	if err != nil {
		return repo.Message{}, false, err
	}
	if a.cfg.DebugSendDelay > 0 {
		time.Sleep(a.cfg.DebugSendDelay)
	}
	w.deadline = snowflake.Time(msgID).Add(a.cfg.SendDeadline)
	sctx, cancel := context.WithDeadline(ctx, w.deadline)
	defer cancel()

	claim, err := a.store.ClaimSend(sctx, w.msg.SenderID, w.msg.ClientMsgID, w.conv.ID, msgID)
	if err != nil {
		return repo.Message{}, false, err
	}
	if claim.ConvID != w.conv.ID {
		return repo.Message{}, false, repo.Errorf(repo.CodeConflict, "client_msg_id was already used in another conversation")
	}
	w.msg.ID, w.eventID = claim.MsgID, claim.MsgID
	if !claim.Won {
		// A retry. The first attempt may have died half-way, so write again what may
		// be missing: the message row unless it is stored, and the inbox event under
		// a fresh id so a device whose sync cursor has passed the old id still gets
		// it. Devices that already had it drop the repeat by message id.
		if m, err := a.store.GetMessage(sctx, w.conv.ID, claim.MsgID); err == nil {
			w.msg, w.stored = m, true
		} else if !repo.IsCode(err, repo.CodeNotFound) {
			return repo.Message{}, false, err
		}
		if w.msg.Recalled {
			// Withdrawn: the retry gets the recalled message and writes nothing,
			// so no copy of the content comes back into anyone's inbox.
			return w.msg, false, nil
		}
		if w.eventID, err = a.newID(); err != nil {
			return repo.Message{}, false, err
		}
		w.deadline, w.behindCursors = snowflake.Time(w.eventID).Add(a.cfg.SendDeadline), true
	}
	msg, err := a.writeSend(ctx, w)
	return msg, claim.Won, err
}

// sendWrite is what one send attempt writes.
type sendWrite struct {
	conv       repo.Conversation
	recipients []int64
	msg        repo.Message
	mediaIDs   []int64
	eventID    int64
	// deadline: nothing is acknowledged unless every row is written by then.
	deadline time.Time
	// stored: the message row is already there (a retry): it is not rewritten.
	stored bool
	// behindCursors: the message id may be older than members' sync cursors
	// (a retry, or a late UUIDv7), so even a pull-mode group gets inbox rows.
	behindCursors bool
	// writeMicros: the message row's write timestamp (0: now).
	writeMicros int64
	// positions: a direct conversation's members' chat positions as the
	// send read them (repo/directsend.go); nil: moved by TouchChats.
	positions *[2]repo.DirectPosition
	// rendered, if not nil, gets the message's JSON (messageOut) when the
	// send returns the message it pushed, so the ack need not encode the
	// body again.
	rendered *[]byte
}

// writeSend writes a send's rows at once and, when all are written within
// the deadline, pushes it.
func (a *App) writeSend(ctx context.Context, w sendWrite) (repo.Message, error) {
	sctx, cancel := context.WithDeadline(ctx, w.deadline)
	defer cancel()
	msg, convID, conv := w.msg, w.conv.ID, w.conv
	msg.CreatedAt = snowflake.Time(msg.ID)
	if !w.stored && msg.ReplyTo != 0 {
		// Checked only for a message not stored yet: a retry returns what was
		// accepted, even if its target was recalled since. A refusal leaves the
		// claim unused, so the same client_msg_id with a valid reply_to still works.
		if err := a.checkReplyTo(sctx, convID, msg.ReplyTo); err != nil {
			return repo.Message{}, err
		}
	}
	// Grant before the message exists, so no member ever sees media they cannot
	// fetch (a stored message's grants were written before it).
	for _, id := range w.mediaIDs {
		if w.stored {
			break
		}
		if err := a.store.GrantMedia(sctx, id, convID, msg.ID); err != nil {
			return repo.Message{}, err
		}
	}
	payload, err := json.Marshal(MessageOut(msg))
	if err != nil {
		return repo.Message{}, err
	}
	// The push frame is assembled around the payload bytes; the event carries
	// them as a string only where a row stores them (a copy of 4 KB less a
	// send for a direct conversation's reference rows).
	ev := repo.Event{ID: w.eventID, Kind: repo.EventMessageNew, ConvID: convID, MsgID: msg.ID}
	// The message row, the chat-list cell and rows and payload inbox rows do not
	// depend on each other: written at once, the send waits for one round trip
	// instead of three (two for references, which wait for the message row).
	// Nothing is acknowledged unless all of them are written.
	g, gctx := errgroup.WithContext(sctx)
	// written is closed once the message row is acknowledged at the configured
	// consistency (at once for a stored one). A reference is appended only
	// after: a timed-out row write may still be applied later (a queued
	// mutation, a hint), and a reference to a row that lands after a device's
	// cursor passed it would be skipped by that device for good.
	written := make(chan struct{})
	put := func(err error) error {
		if err == nil {
			close(written)
		}
		return err
	}
	switch {
	case w.stored:
		// A stored row needs no repair, and rewriting its body could race a recall.
		close(written)
	case w.writeMicros != 0:
		g.Go(func() error { return put(a.store.PutMessageAt(gctx, msg, w.writeMicros)) })
	default:
		g.Go(func() error { return put(a.store.PutMessage(gctx, msg)) })
	}
	// The outbox row makes the pushes for members without a live socket
	// (docs/notifications.md); written with the rest, it is there once the
	// send is acknowledged. A retry writes the same row again.
	var outbox []repo.OutboxEntry
	if a.cfg.Notify.Outbox() {
		outbox = []repo.OutboxEntry{{EventID: w.eventID, MsgID: msg.ID, ConvID: convID, SenderID: msg.SenderID, Event: repo.NotifyMessage}}
	}
	switch {
	case w.positions != nil:
		g.Go(func() error { return a.store.MoveDirect(gctx, convID, msg.ID, *w.positions, outbox...) })
	default:
		if outbox != nil {
			g.Go(func() error { return a.store.PutOutbox(gctx, outbox[0]) })
		}
		g.Go(func() error { return a.store.TouchConversation(gctx, convID, msg.ID) })
		// A pull-mode group's move costs a read and a batch per member (up to the
		// group bound): one per pullMoveEvery per node, so a busy group's place
		// in its members' lists lags its newest message by less than that. It
		// runs beside the send, not in it: a 1,000-member move took a second,
		// which the one send in fifty that made it waited for (P99), and could
		// overrun the send deadline under load. The list is a view of the
		// timeline, written again by the next message's move.
		switch {
		case conv.Fanout != repo.FanoutPull:
			g.Go(func() error { return a.store.TouchChats(gctx, convID, w.recipients, msg.ID) })
		case a.chatMoves.allowEvery([2]int64{convID, 0}, time.Now(), pullMoveEvery(len(w.recipients))):
			// One move per group at a time: a move slower than its interval
			// (a loaded ring) is not joined by the next one.
			a.pullMoves.start(convID, "pull group's chat-list move failed; its next message moves it", func(ctx context.Context) error {
				return a.store.TouchChats(ctx, convID, w.recipients, msg.ID)
			})
		}
	}
	// Push mode: a row in every member's inbox. Pull mode (large groups): none;
	// members' sync reads the group's timeline instead (docs/fanout.md) -- except
	// when the message may sit at an id that cursors have passed.
	if conv.Fanout != repo.FanoutPull || w.behindCursors {
		row := ev
		// A reference (no payload) in a direct conversation: sync reads the
		// body from the message row (withdraw.go), so it is stored once, not
		// once more per member. Only for direct conversations, whose two
		// members never change: a reference renders the message as it is now,
		// and a removed group member must not read an edit made after their
		// removal (guarantee 4; an edit rewrites only current members' rows).
		if conv.Kind != repo.KindDirect || !a.cfg.InboxReferences {
			row.Payload = string(payload)
		}
		g.Go(func() error {
			if row.IsRef() {
				select {
				case <-written:
				case <-gctx.Done():
					// Never nil: the send must not be acknowledged without its rows.
					return repo.Errorf(repo.CodeUnavailable, "send not written, retry with the same client_msg_id")
				}
			}
			return a.store.AppendEvent(gctx, w.recipients, row)
		})
	}
	if err := g.Wait(); err != nil {
		return repo.Message{}, err
	}
	if a.cfg.DebugAckDelay > 0 {
		time.Sleep(a.cfg.DebugAckDelay)
	}
	if time.Now().After(w.deadline) {
		// Too late for the sync invariant: do not acknowledge; the retry re-appends with a fresh id.
		return repo.Message{}, repo.Errorf(repo.CodeUnavailable, "send took too long, retry with the same client_msg_id")
	}
	if w.stored {
		// A recall may have landed while this retry wrote its copy: sync withdraws
		// that copy (completeEvents), and the push must not carry it either.
		if now, err := a.store.GetMessage(sctx, convID, msg.ID); err != nil || now.Recalled {
			return now, err
		}
	}
	a.delivery.Push(w.recipients, ev.Kind, ev.ID, payload, snowflake.Time(ev.ID))
	a.metrics.Fanout(len(w.recipients))
	if w.rendered != nil {
		*w.rendered = payload
	}
	return msg, nil
}

// checkReplyTo fails with invalid_argument unless replyTo is a message of the
// conversation that is not recalled (an id of another conversation is simply
// not found here: the key includes the conversation).
func (a *App) checkReplyTo(ctx context.Context, convID, replyTo int64) error {
	target, err := a.store.GetMessage(ctx, convID, replyTo)
	switch {
	case repo.IsCode(err, repo.CodeNotFound):
		return invalid("reply_to: message %d is not in this conversation", replyTo)
	case err != nil:
		return err
	case target.Recalled:
		return invalid("reply_to: message %d was recalled", replyTo)
	}
	return nil
}
