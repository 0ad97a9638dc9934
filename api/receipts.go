package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// EventReceipt tells members (and the reader's other devices) a watermark moved.
const EventReceipt = "receipt"

// markReceipt moves the caller's delivered or read watermark of a conversation
// (read implies delivered) and tells the other members and the caller's other
// devices. Only a forward move writes anything: up_to is held to the
// conversation's newest message, and a mark at or below the stored one is
// answered without a write. The event is coalesced per member and
// conversation (receiptCoalescer) and stored only where a device needs it
// after a reconnect (docs/fanout.md, "Receipts").
func (s *Server) markReceipt(ctx context.Context, sess repo.Session, convID, upTo int64, w repo.Watermark) error {
	if upTo <= 0 || upTo > snowflake.MinIDAt(s.now().Add(repo.ClockSkew+time.Second)) {
		return invalid("up_to must be a message id")
	}
	if err := s.receipts.allow(sess.UserID, s.now()); err != nil {
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
		conv, members, _, err = s.membership(gctx, convID, sess.UserID)
		return err
	})
	g.Go(func() (err error) { newest, err = s.store.NewestMessageID(gctx, convID); return err })
	g.Go(func() (err error) { marks, err = s.store.GetWatermarks(gctx, convID, sess.UserID); return err })
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
		if err := s.store.SetWatermark(ctx, convID, sess.UserID, m, upTo); err != nil {
			return err
		}
	}
	if len(moved) == 0 {
		return nil
	}
	if s.receipts.coalesce(convID, marks, s.now()) {
		return nil // a flush is due: it sends the newest marks
	}
	return s.sendReceipt(ctx, conv, members, marks)
}

// flushReceipt sends a coalesced receipt, re-reading the membership: a member
// removed in the meantime sends and gets nothing.
func (s *Server) flushReceipt(convID int64, marks repo.Marks) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	conv, members, _, err := s.membership(ctx, convID, marks.UserID)
	if err == nil {
		err = s.sendReceipt(ctx, conv, members, marks)
	}
	if err != nil && !repo.IsCode(err, repo.CodePermissionDenied) && !repo.IsCode(err, repo.CodeNotFound) {
		s.log.Warn("coalesced receipt not sent", "conv", convID, "user", marks.UserID, "err", err)
	}
}

// sendReceipt pushes a receipt to the members' connected devices and stores it
// for those who need it on their next sync: the reader's own devices, and in a
// direct conversation the peer. A peer who blocks the reader gets nothing.
func (s *Server) sendReceipt(ctx context.Context, conv repo.Conversation, members []repo.Member, marks repo.Marks) error {
	pushed, stored := memberIDs(members), []int64{marks.UserID}
	if conv.Kind == repo.KindDirect {
		for _, m := range members {
			if m.UserID == marks.UserID {
				continue
			}
			blocked, err := s.store.Blocks(ctx, m.UserID, marks.UserID)
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
	data := map[string]any{"conversation_id": idStr(conv.ID), "user_id": idStr(marks.UserID),
		"delivered_up_to": idStr(marks.Delivered), "read_up_to": idStr(marks.Read)}
	return s.emitStored(ctx, stored, pushed, EventReceipt, conv.ID, marks.Delivered, data)
}

type readRequest struct {
	UpTo string `json:"up_to"`
}

func (s *Server) postRead(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	var req readRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	upTo, err := parseID("up_to", req.UpTo)
	if err != nil {
		return err
	}
	if err := s.markReceipt(c.Request().Context(), session(c), convID, upTo, repo.Read); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// getReceipts lists who has a message delivered and read (by watermark), with
// counts. In a direct conversation a peer the caller blocks is not shown.
func (s *Server) getReceipts(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	msgID, err := parseID("message id", c.Param("msg_id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	me := session(c).UserID
	conv, members, _, err := s.membership(ctx, convID, me)
	if err != nil {
		return err
	}
	msg, err := s.store.GetMessage(ctx, convID, msgID)
	if err != nil {
		return err
	}
	marks, err := s.store.ListWatermarks(ctx, convID)
	if err != nil {
		return err
	}
	delivered, read := []string{}, []string{}
	for _, m := range members {
		if m.UserID == msg.SenderID {
			continue
		}
		if conv.Kind == repo.KindDirect && m.UserID != me {
			if blocked, err := s.store.Blocks(ctx, me, m.UserID); err != nil {
				return err
			} else if blocked {
				continue
			}
		}
		if marks[m.UserID].Delivered >= msgID {
			delivered = append(delivered, idStr(m.UserID))
		}
		if marks[m.UserID].Read >= msgID {
			read = append(read, idStr(m.UserID))
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"delivered": delivered, "read": read,
		"delivered_count": len(delivered), "read_count": len(read), "recipients": len(members) - 1})
}
