package chat

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// EventReceipt tells members (and the reader's other devices) a watermark moved.
const EventReceipt = "receipt"

// MarkReceipt moves the caller's delivered or read watermark of a conversation
// (read implies delivered) and tells the other members and the caller's other
// devices. Only a forward move writes anything: up_to is held to the
// conversation's newest message, and a mark at or below the stored one is
// answered without a write. The event is coalesced per member and
// conversation (receiptCoalescer) and stored only where a device needs it
// after a reconnect (docs/fanout.md, "Receipts"). A peer who blocks the
// reader gets nothing.
//
// Codes: invalid_argument (up_to is no message id); rate_limited (the
// caller's receipts on this node); permission_denied (not a member);
// not_found (no conversation).
func (a *App) MarkReceipt(ctx context.Context, sess repo.Session, convID, upTo int64, w repo.Watermark) error {
	if upTo <= 0 || upTo > snowflake.MinIDAt(a.now().Add(repo.ClockSkew+time.Second)) {
		return invalid("up_to must be a message id")
	}
	if err := a.receipts.allow(sess.UserID, a.now()); err != nil {
		return err
	}
	var (
		conv    repo.Conversation
		members []repo.Member
		newest  int64
		marks   repo.Marks
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		conv, members, _, err = a.membership(gctx, convID, sess.UserID)
		return err
	})
	g.Go(func() (err error) { newest, err = a.store.NewestMessageID(gctx, convID); return err })
	g.Go(func() (err error) { marks, err = a.store.GetWatermarks(gctx, convID, sess.UserID); return err })
	if err := g.Wait(); err != nil {
		return err
	}
	// No cell may be newer than a message that exists: a client cannot write the future.
	upTo = min(upTo, newest)
	moved := []repo.Watermark{}
	if upTo > marks.Delivered {
		moved, marks.Delivered = append(moved, repo.Delivered), upTo
	}
	if w == repo.Read && upTo > marks.Read {
		moved, marks.Read = append(moved, repo.Read), upTo
	}
	for _, m := range moved {
		if err := a.store.SetWatermark(ctx, convID, sess.UserID, m, upTo); err != nil {
			return err
		}
	}
	if len(moved) == 0 {
		return nil
	}
	if a.receipts.coalesce(convID, marks, a.now()) {
		return nil // a flush is due: it sends the newest marks
	}
	return a.sendReceipt(ctx, conv, members, marks)
}

// flushReceipt sends a coalesced receipt, re-reading the membership: a member
// removed in the meantime sends and gets nothing.
func (a *App) flushReceipt(convID int64, marks repo.Marks) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.RequestTimeout)
	defer cancel()
	conv, members, _, err := a.membership(ctx, convID, marks.UserID)
	if err == nil {
		err = a.sendReceipt(ctx, conv, members, marks)
	}
	if err != nil && !repo.IsCode(err, repo.CodePermissionDenied) && !repo.IsCode(err, repo.CodeNotFound) {
		a.log.Warn("coalesced receipt not sent", "conv", convID, "user", marks.UserID, "err", err)
	}
}

// sendReceipt pushes a receipt to the members' connected devices and stores it
// for those who need it on their next sync: the reader's own devices, and in a
// direct conversation the peer. A peer who blocks the reader gets nothing.
func (a *App) sendReceipt(ctx context.Context, conv repo.Conversation, members []repo.Member, marks repo.Marks) error {
	pushed, stored := memberIDs(members), []int64{marks.UserID}
	if conv.Kind == repo.KindDirect {
		for _, m := range members {
			if m.UserID == marks.UserID {
				continue
			}
			blocked, err := a.store.Blocks(ctx, m.UserID, marks.UserID)
			if err != nil {
				return err
			}
			if blocked {
				pushed = stored
			} else {
				stored = append(stored, m.UserID)
			}
		}
	}
	data := map[string]any{"conversation_id": IDString(conv.ID), "user_id": IDString(marks.UserID),
		"delivered_up_to": IDString(marks.Delivered), "read_up_to": IDString(marks.Read)}
	return a.emitStored(ctx, stored, pushed, EventReceipt, conv.ID, marks.Delivered, data)
}

// MessageReceipts is who of a message's recipients has it delivered and
// read, by watermark.
type MessageReceipts struct {
	Delivered  []int64
	Read       []int64
	Recipients int // the members but the sender
}

// Receipts lists who has a message delivered and read. In a direct
// conversation a peer the caller blocks is not shown.
//
// Codes: permission_denied (not a member); not_found (no conversation or
// message).
func (a *App) Receipts(ctx context.Context, me repo.Session, convID, msgID int64) (MessageReceipts, error) {
	conv, members, _, err := a.membership(ctx, convID, me.UserID)
	if err != nil {
		return MessageReceipts{}, err
	}
	msg, err := a.store.GetMessage(ctx, convID, msgID)
	if err != nil {
		return MessageReceipts{}, err
	}
	marks, err := a.store.ListWatermarks(ctx, convID)
	if err != nil {
		return MessageReceipts{}, err
	}
	out := MessageReceipts{Delivered: []int64{}, Read: []int64{}, Recipients: len(members) - 1}
	for _, m := range members {
		if m.UserID == msg.SenderID {
			continue
		}
		if conv.Kind == repo.KindDirect && m.UserID != me.UserID {
			if blocked, err := a.store.Blocks(ctx, me.UserID, m.UserID); err != nil {
				return MessageReceipts{}, err
			} else if blocked {
				continue
			}
		}
		if marks[m.UserID].Delivered >= msgID {
			out.Delivered = append(out.Delivered, m.UserID)
		}
		if marks[m.UserID].Read >= msgID {
			out.Read = append(out.Read, m.UserID)
		}
	}
	return out, nil
}
