package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// pushOnly sends an event to connected devices without storing it.
func (s *Server) pushOnly(recipients []int64, kind string, convID int64, data any) error {
	payload, err := json.Marshal(data)
	if err != nil {
		return err
	}
	id, err := s.newID()
	if err != nil {
		return err
	}
	s.hub.Deliver(recipients, encodePush(repo.Event{ID: id, Kind: kind, ConvID: convID, Payload: string(payload)}))
	return nil
}

// loadMessage loads a message of a conversation the caller belongs to.
func (s *Server) loadMessage(c echo.Context) (repo.Conversation, []repo.Member, repo.Member, repo.Message, error) {
	conv, members, me, err := s.group(c)
	if err != nil {
		return conv, nil, me, repo.Message{}, err
	}
	msgID, err := parseID("message id", c.Param("msg_id"))
	if err != nil {
		return conv, nil, me, repo.Message{}, err
	}
	msg, err := s.store.GetMessage(c.Request().Context(), conv.ID, msgID)
	if err != nil {
		return conv, nil, me, repo.Message{}, err
	}
	return conv, members, me, msg, nil
}

// errRecalled refuses an edit of a recalled message, or one a recall overtook.
func errRecalled() error { return repo.Errorf(repo.CodeConflict, "the message was recalled") }

type editRequest struct {
	Body string `json:"body"`
}

// editMessage lets the sender change the body within EditWindow. The row is
// updated in place (no tombstone); members get message.edited.
func (s *Server) editMessage(c echo.Context) error {
	conv, members, me, msg, err := s.loadMessage(c)
	if err != nil {
		return err
	}
	var req editRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if msg.SenderID != me.UserID {
		return repo.Errorf(repo.CodePermissionDenied, "only the sender edits a message")
	}
	if msg.Recalled {
		return errRecalled()
	}
	if s.now().Sub(snowflake.Time(msg.ID)) > s.cfg.EditWindow {
		return repo.Errorf(repo.CodePermissionDenied, "messages can be edited for %s after sending", s.cfg.EditWindow)
	}
	if err := s.cfg.Limits.validateBody(req.Body, msg.Media != "" && msg.Media != "[]"); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.blockedInDirect(ctx, conv, members, me.UserID); err != nil {
		return err
	}
	msg.Body, msg.EditedAt = req.Body, s.now()
	// Conditional on the message not being recalled (repo.EditMessage): an edit
	// racing a recall either lands before it, and is withdrawn with it, or is
	// refused with conflict.
	if err := s.store.EditMessage(ctx, msg); err != nil {
		return err
	}
	if s.cfg.DebugEditDelay > 0 {
		time.Sleep(s.cfg.DebugEditDelay)
	}
	// A recall that landed after the edit's write has announced (or will) an
	// empty body: the edit must not push its body or rewrite the inbox row.
	// Under the message's lock a recall on this node cannot announce between
	// this read and the edit's announce.
	unlock := s.changeLock.lock(msg.ID)
	defer unlock()
	if now, err := s.store.GetMessage(ctx, conv.ID, msg.ID); err != nil {
		return err
	} else if now.Recalled {
		return errRecalled()
	}
	if err := s.announce(ctx, conv, members, repo.EventMessageEdited, msg); err != nil {
		return err
	}
	// The order left: a recall on another node landing between that read and
	// the announce may announce before it. Reading again catches every such
	// recall (its write precedes its announce), and announcing the recall once
	// more, with an id newer than this edit's, leaves the row and every device
	// at the recalled message. A recall whose write follows this read
	// announces after this edit's, so needs nothing.
	if now, err := s.store.GetMessage(ctx, conv.ID, msg.ID); err != nil {
		return err
	} else if now.Recalled {
		if err := s.announce(ctx, conv, members, repo.EventMessageRecalled, now); err != nil {
			return err
		}
		return errRecalled()
	}
	return c.JSON(http.StatusOK, map[string]any{"message": messageOut(msg)})
}

// recallMessage withdraws a message for everyone: by its sender within
// RecallWindow, or by a group's owner or admin at any time. The row keeps its
// key with recalled=true and an empty body (a flag, not a delete: no
// tombstones in the timeline), and members get message.recalled.
func (s *Server) recallMessage(c echo.Context) error {
	conv, members, me, msg, err := s.loadMessage(c)
	if err != nil {
		return err
	}
	moderator := conv.Kind == repo.KindGroup && (me.Role == repo.RoleOwner || me.Role == repo.RoleAdmin)
	sender := msg.SenderID == me.UserID
	switch {
	case msg.Recalled:
		return c.NoContent(http.StatusNoContent)
	case moderator:
	case !sender:
		return repo.Errorf(repo.CodePermissionDenied, "only the sender or a group admin recalls a message")
	case s.now().Sub(snowflake.Time(msg.ID)) > s.cfg.RecallWindow:
		return repo.Errorf(repo.CodePermissionDenied, "messages can be recalled for %s after sending", s.cfg.RecallWindow)
	}
	carried := msg
	msg.Body, msg.Media, msg.Recalled, msg.EditedAt = "", "[]", true, s.now()
	ctx := c.Request().Context()
	if err := s.store.RecallMessage(ctx, msg); err != nil {
		return err
	}
	// Downloads already check that the carrying message is not recalled; this
	// deletes the grants (and those that name no message) so nothing is left.
	if err := s.revokeMedia(ctx, carried); err != nil {
		return err
	}
	unlock := s.changeLock.lock(msg.ID) // after an edit's announce that began first
	defer unlock()
	if err := s.announce(ctx, conv, members, repo.EventMessageRecalled, msg); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// announce tells members about a changed message, and rewrites the original
// message.new inbox rows so a device that syncs later never gets the old body.
func (s *Server) announce(ctx context.Context, conv repo.Conversation, members []repo.Member, kind string, msg repo.Message) error {
	out := messageOut(msg)
	payload, _ := json.Marshal(out)
	ids := memberIDs(members)
	// A derived id's (UUIDv7 send's) message.new rows have ids of their own and
	// are references, rendered from the row: a row at its id would be a new event.
	if conv.Fanout != repo.FanoutPull && !s.isDeterministic(msg) {
		remaining := s.store.Retention().Inbox - time.Since(snowflake.Time(msg.ID))
		if remaining > 0 {
			orig := repo.Event{ID: msg.ID, Kind: repo.EventMessageNew, ConvID: conv.ID, MsgID: msg.ID, Payload: string(payload)}
			if err := s.store.RewriteEvent(ctx, ids, orig, remaining); err != nil {
				return err
			}
		}
	}
	return s.emit(ctx, ids, kind, conv.ID, msg.ID, map[string]any{"message": out})
}

// blockedInDirect fails with permission_denied when, in a direct
// conversation, the other member blocks me: nothing of mine reaches them.
func (s *Server) blockedInDirect(ctx context.Context, conv repo.Conversation, members []repo.Member, me int64) error {
	if conv.Kind != repo.KindDirect {
		return nil
	}
	for _, m := range members {
		if m.UserID != me {
			if err := s.blockedBy(ctx, m.UserID, me); err != nil {
				return err
			}
		}
	}
	return nil
}

// messageLocks are striped per-message locks: fixed memory, and two messages
// share a stripe only by hash, costing a short wait, never correctness.
type messageLocks [256]sync.Mutex

func (l *messageLocks) lock(msgID int64) (unlock func()) {
	m := &l[uint64(msgID)*0x9E3779B97F4A7C15>>56] // the id's low bits (sequence) are mostly 0
	m.Lock()
	return m.Unlock
}
