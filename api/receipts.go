package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// EventReceipt tells members (and the reader's other devices) a watermark moved.
const EventReceipt = "receipt"

// markReceipt moves the caller's delivered or read watermark of a conversation
// (read implies delivered) and tells the other members and the caller's other
// devices. Receipts are stored in inboxes for push-mode conversations; in
// pull-mode groups they go to connected devices only (GET .../receipts has them).
func (s *Server) markReceipt(ctx context.Context, sess repo.Session, convID, upTo int64, w repo.Watermark) error {
	if upTo <= 0 || upTo > snowflake.MinIDAt(s.now().Add(repo.ClockSkew+time.Second)) {
		return invalid("up_to must be a message id")
	}
	conv, members, me, err := s.membership(ctx, convID, sess.UserID)
	if err != nil {
		return err
	}
	marks := []repo.Watermark{w}
	if w == repo.Read {
		marks = append(marks, repo.Delivered)
	}
	for _, m := range marks {
		if err := s.store.SetWatermark(ctx, convID, sess.UserID, m, upTo); err != nil {
			return err
		}
	}
	delivered, read := max(me.DeliveredUpTo, upTo), me.ReadUpTo
	if w == repo.Read {
		read = max(read, upTo)
	}
	data := map[string]any{"conversation_id": idStr(convID), "user_id": idStr(sess.UserID),
		"delivered_up_to": idStr(delivered), "read_up_to": idStr(read)}
	if conv.Fanout == repo.FanoutPull {
		return s.pushOnly(memberIDs(members), EventReceipt, convID, data)
	}
	return s.emit(ctx, memberIDs(members), EventReceipt, convID, upTo, data)
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

// getReceipts lists who has a message delivered and read (by watermark), with counts.
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
	if _, err := s.store.Authorize(ctx, convID, session(c).UserID); err != nil {
		return err
	}
	msg, err := s.store.GetMessage(ctx, convID, msgID)
	if err != nil {
		return err
	}
	members, err := s.store.ListMembers(ctx, convID)
	if err != nil {
		return err
	}
	delivered, read := []string{}, []string{}
	for _, m := range members {
		if m.UserID == msg.SenderID {
			continue
		}
		if m.DeliveredUpTo >= msgID {
			delivered = append(delivered, idStr(m.UserID))
		}
		if m.ReadUpTo >= msgID {
			read = append(read, idStr(m.UserID))
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"delivered": delivered, "read": read,
		"delivered_count": len(delivered), "read_count": len(read), "recipients": len(members) - 1})
}
