package chat

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// loadMessage loads a message of a conversation me belongs to, with the
// conversation, its members and me among them.
func (a *App) loadMessage(ctx context.Context, me repo.Session, convID, msgID int64) (repo.Conversation, []repo.Member, repo.Member, repo.Message, error) {
	conv, members, member, err := a.membership(ctx, convID, me.UserID)
	if err != nil {
		return conv, nil, member, repo.Message{}, err
	}
	msg, err := a.store.GetMessage(ctx, conv.ID, msgID)
	if err != nil {
		return conv, nil, member, repo.Message{}, err
	}
	return conv, members, member, msg, nil
}

// errRecalled refuses an edit of a recalled message, or one a recall overtook.
func errRecalled() error { return repo.Errorf(repo.CodeConflict, "the message was recalled") }

// Edit lets the sender change a message's body within EditWindow. The row is
// updated in place (no tombstone), the members' inbox copies are rewritten,
// and members get message.edited. An edit is never applied beside a recall:
// it lands before the recall and is withdrawn with it, or is refused.
//
// Codes: permission_denied (not a member, not the sender, past the window,
// the direct peer blocks the sender, the before-send check rejected it);
// conflict (recalled); invalid_argument and too_large (the body's bounds);
// not_found (no conversation or message); unavailable (the check failing
// closed).
func (a *App) Edit(ctx context.Context, me repo.Session, convID, msgID int64, body string) (repo.Message, error) {
	conv, members, member, msg, err := a.loadMessage(ctx, me, convID, msgID)
	if err != nil {
		return repo.Message{}, err
	}
	if msg.SenderID != member.UserID {
		return repo.Message{}, repo.Errorf(repo.CodePermissionDenied, "only the sender edits a message")
	}
	if msg.Recalled {
		return repo.Message{}, errRecalled()
	}
	if a.now().Sub(snowflake.Time(msg.ID)) > a.cfg.EditWindow {
		return repo.Message{}, repo.Errorf(repo.CodePermissionDenied, "messages can be edited for %s after sending", a.cfg.EditWindow)
	}
	if err := a.cfg.Limits.validateBody(body, msg.Media != "" && msg.Media != "[]"); err != nil {
		return repo.Message{}, err
	}
	if err := a.blockedInDirect(ctx, conv, members, member.UserID); err != nil {
		return repo.Message{}, err
	}
	// The check sees an edit as it sees a send: editing cannot pass it.
	body, err = a.checkBody(ctx, BeforeSendMessage{Event: CheckEdit, SenderID: member.UserID, ConvID: conv.ID, MsgID: msg.ID,
		ClientMsgID: msg.ClientMsgID, Body: body, ReplyTo: msg.ReplyTo}, msg.Media != "" && msg.Media != "[]")
	if err != nil {
		return repo.Message{}, err
	}
	msg.Body, msg.EditedAt = body, a.now()
	// Conditional on the message not being recalled (repo.EditMessage): an edit
	// racing a recall either lands before it, and is withdrawn with it, or is
	// refused with conflict.
	if err := a.store.EditMessage(ctx, msg); err != nil {
		return repo.Message{}, err
	}
	if a.cfg.DebugEditDelay > 0 {
		time.Sleep(a.cfg.DebugEditDelay)
	}
	// A recall that landed after the edit's write has announced (or will) an
	// empty body: the edit must not push its body or rewrite the inbox row.
	// Under the message's lock a recall on this node cannot announce between
	// this read and the edit's announce.
	unlock := a.changeLock.lock(msg.ID)
	defer unlock()
	if now, err := a.store.GetMessage(ctx, conv.ID, msg.ID); err != nil {
		return repo.Message{}, err
	} else if now.Recalled {
		return repo.Message{}, errRecalled()
	}
	if err := a.announce(ctx, conv, members, repo.EventMessageEdited, msg); err != nil {
		return repo.Message{}, err
	}
	// The order left: a recall on another node landing between that read and
	// the announce may announce before it. Reading again catches every such
	// recall (its write precedes its announce), and announcing the recall once
	// more, with an id newer than this edit's, leaves the row and every device
	// at the recalled message. A recall whose write follows this read
	// announces after this edit's, so needs nothing.
	if now, err := a.store.GetMessage(ctx, conv.ID, msg.ID); err != nil {
		return repo.Message{}, err
	} else if now.Recalled {
		if err := a.announce(ctx, conv, members, repo.EventMessageRecalled, now); err != nil {
			return repo.Message{}, err
		}
		return repo.Message{}, errRecalled()
	}
	return msg, nil
}

// Recall withdraws a message for everyone: by its sender within
// RecallWindow, or by a group's owner or admin at any time. The row keeps its
// key with recalled=true and an empty body (a flag, not a delete: no
// tombstones in the timeline), its media grants are revoked, and members get
// message.recalled. Recalling a recalled message succeeds and does nothing.
//
// Codes: permission_denied (not a member; neither the sender within the
// window nor a group's owner or admin); not_found (no conversation or
// message).
func (a *App) Recall(ctx context.Context, me repo.Session, convID, msgID int64) error {
	conv, members, member, msg, err := a.loadMessage(ctx, me, convID, msgID)
	if err != nil {
		return err
	}
	moderator := conv.Kind == repo.KindGroup && (member.Role == repo.RoleOwner || member.Role == repo.RoleAdmin)
	sender := msg.SenderID == member.UserID
	switch {
	case msg.Recalled:
		return nil
	case moderator:
	case !sender:
		return repo.Errorf(repo.CodePermissionDenied, "only the sender or a group admin recalls a message")
	case a.now().Sub(snowflake.Time(msg.ID)) > a.cfg.RecallWindow:
		return repo.Errorf(repo.CodePermissionDenied, "messages can be recalled for %s after sending", a.cfg.RecallWindow)
	}
	carried := msg
	msg.Body, msg.Media, msg.Recalled, msg.EditedAt = "", "[]", true, a.now()
	if err := a.store.RecallMessage(ctx, msg); err != nil {
		return err
	}
	// Downloads already check that the carrying message is not recalled; this
	// deletes the grants (and those that name no message) so nothing is left.
	if err := a.revokeMedia(ctx, carried); err != nil {
		return err
	}
	unlock := a.changeLock.lock(msg.ID) // after an edit's announce that began first
	defer unlock()
	return a.announce(ctx, conv, members, repo.EventMessageRecalled, msg)
}

// announce tells members about a changed message, and rewrites the original
// message.new inbox rows so a device that syncs later never gets the old body.
func (a *App) announce(ctx context.Context, conv repo.Conversation, members []repo.Member, kind string, msg repo.Message) error {
	out := MessageOut(msg)
	payload, _ := json.Marshal(out)
	ids := memberIDs(members)
	// A derived id's (UUIDv7 send's) message.new rows have ids of their own and
	// are references, rendered from the row: a row at its id would be a new event.
	if conv.Fanout != repo.FanoutPull && !a.isDeterministic(msg) {
		remaining := a.store.Retention().Inbox - time.Since(snowflake.Time(msg.ID))
		if remaining > 0 {
			orig := repo.Event{ID: msg.ID, Kind: repo.EventMessageNew, ConvID: conv.ID, MsgID: msg.ID, Payload: string(payload)}
			if err := a.store.RewriteEvent(ctx, ids, orig, remaining); err != nil {
				return err
			}
		}
	}
	return a.emit(ctx, ids, kind, conv.ID, msg.ID, map[string]any{"message": out})
}

// blockedInDirect fails with permission_denied when, in a direct
// conversation, the other member blocks me: nothing of mine reaches them.
func (a *App) blockedInDirect(ctx context.Context, conv repo.Conversation, members []repo.Member, me int64) error {
	if conv.Kind != repo.KindDirect {
		return nil
	}
	for _, m := range members {
		if m.UserID != me {
			if err := a.blockedBy(ctx, m.UserID, me); err != nil {
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
