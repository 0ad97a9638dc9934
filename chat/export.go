package chat

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Export (docs/export.md): everything a user sent and received, as a stream
// of lines in a fixed order (profile, contacts, blocks, conversations, then
// each conversation's messages oldest first), each with the position after
// it. One response streams what fits in its request's time, then says where
// to go on; so an export is resumable from any line, and bounded per request.

// Export phases, in order.
const (
	ExportProfile = iota
	ExportContacts
	ExportBlocks
	ExportConversations
	ExportMessages
	ExportDone
)

// ExportPosition is where an export goes on from: the phase, and in it the
// last contact, blocked user or conversation written (After), or for
// messages the conversation and its last message written.
type ExportPosition struct {
	Phase int
	Conv  int64
	After int64
}

// ExportLine is one record of an export; Next is the position after it.
type ExportLine struct {
	Type string // profile, contact, block, conversation, message
	Data any
	Next ExportPosition
}

// Bounds of one export response.
const (
	exportPage = 200
	// ExportLinesPerResponse bounds what one response holds by default
	// (Config.ExportLines); a client goes on from the last position.
	ExportLinesPerResponse = 5000
	// exportMargin is kept of the request's time to end the response cleanly.
	exportMargin = time.Second
)

// Export writes lines from pos through emit until the export is done, the
// response holds Config.ExportLines lines, or ctx's deadline is near;
// it returns where to go on from (Phase ExportDone: nothing more). At most
// cfg.ExportConcurrency exports run at once on a node: past it, unavailable.
func (a *App) Export(ctx context.Context, me repo.Session, pos ExportPosition, emit func(ExportLine) error) (ExportPosition, error) {
	select {
	case a.exports <- struct{}{}:
		defer func() { <-a.exports }()
	default:
		return pos, repo.Errorf(repo.CodeUnavailable, "too many exports on this node: retry shortly")
	}
	if pos.Phase < ExportProfile || pos.Phase > ExportDone {
		return pos, invalid("malformed cursor")
	}
	x := exporter{a: a, me: me, emit: emit, most: a.cfg.ExportLines}
	if d, ok := ctx.Deadline(); ok {
		x.stopAt = d.Add(-exportMargin)
	}
	for pos.Phase < ExportDone {
		next, more, err := x.step(ctx, pos)
		if err != nil {
			return pos, err
		}
		// Moved on before the bound is looked at, so every response makes
		// progress, even one whose time ran out at its first step.
		pos = next
		if !more {
			pos = ExportPosition{Phase: pos.Phase + 1}
		}
		if x.full() {
			return pos, nil
		}
	}
	return pos, nil
}

type exporter struct {
	a      *App
	me     repo.Session
	emit   func(ExportLine) error
	lines  int
	most   int
	stopAt time.Time
}

// full reports whether this response holds what it may.
func (x *exporter) full() bool {
	return x.lines >= x.most || (!x.stopAt.IsZero() && time.Now().After(x.stopAt))
}

func (x *exporter) put(typ string, data any, next ExportPosition) error {
	x.lines++
	return x.emit(ExportLine{Type: typ, Data: data, Next: next})
}

// step writes one page of pos's phase; more: the phase has more after next.
func (x *exporter) step(ctx context.Context, pos ExportPosition) (next ExportPosition, more bool, err error) {
	a, me := x.a, x.me
	switch pos.Phase {
	case ExportProfile:
		u, err := a.store.GetUser(ctx, me.UserID)
		if err != nil {
			return pos, false, err
		}
		return pos, false, x.put("profile", u, ExportPosition{Phase: ExportContacts})
	case ExportContacts:
		cs, err := a.store.ListContacts(ctx, me.UserID, pos.After, exportPage)
		if err != nil {
			return pos, false, err
		}
		for _, c := range cs {
			pos.After = c.ContactID
			if err := x.put("contact", c, pos); err != nil || x.full() {
				return pos, true, err
			}
		}
		return pos, len(cs) == exportPage, nil
	case ExportBlocks:
		ids, err := a.store.ListBlocks(ctx, me.UserID, pos.After, exportPage)
		if err != nil {
			return pos, false, err
		}
		for _, id := range ids {
			pos.After = id
			if err := x.put("block", id, pos); err != nil || x.full() {
				return pos, true, err
			}
		}
		return pos, len(ids) == exportPage, nil
	case ExportConversations:
		ucs, err := a.store.ListUserConversations(ctx, me.UserID, pos.After, exportPage)
		if err != nil {
			return pos, false, err
		}
		for _, uc := range ucs {
			pos.After = uc.ConvID
			view, err := a.Conversation(ctx, me, uc.ConvID)
			if repo.IsCode(err, repo.CodeNotFound) || repo.IsCode(err, repo.CodePermissionDenied) {
				continue // left or deleted since the list was read
			}
			if err != nil {
				return pos, false, err
			}
			if err := x.put("conversation", ExportedConversation{View: view, Settings: uc}, pos); err != nil || x.full() {
				return pos, true, err
			}
		}
		return pos, len(ucs) == exportPage, nil
	default:
		return x.messages(ctx, pos)
	}
}

// ExportedConversation is a conversation as the user sees it, with their settings.
type ExportedConversation struct {
	View     ConversationView
	Settings repo.UserConversation
}

// messages writes a page of pos.Conv's messages after pos.After, or moves to
// the next conversation of the user's list when it has no more.
func (x *exporter) messages(ctx context.Context, pos ExportPosition) (ExportPosition, bool, error) {
	a, me := x.a, x.me
	if pos.Conv == 0 {
		ucs, err := a.store.ListUserConversations(ctx, me.UserID, pos.After, 1)
		if err != nil || len(ucs) == 0 {
			return pos, false, err
		}
		pos = ExportPosition{Phase: ExportMessages, Conv: ucs[0].ConvID}
	}
	// From the conversation's making (HistoryAfter starts no earlier).
	page, err := a.History(ctx, me, pos.Conv, HistoryQuery{After: max(pos.After, 1), Limit: exportPage})
	if repo.IsCode(err, repo.CodeNotFound) || repo.IsCode(err, repo.CodePermissionDenied) {
		page, err = repo.HistoryPage{}, nil // left or deleted meanwhile: go on with the next
	}
	if err != nil {
		return pos, false, err
	}
	for _, m := range page.Messages {
		pos.After = m.ID
		if err := x.put("message", MessageOut(m), pos); err != nil || x.full() {
			return pos, true, err
		}
	}
	if page.More {
		if page.Next > pos.After {
			pos.After = page.Next
		}
		// Only empty buckets ahead: past the newest message, it is done
		// (rather than walking every empty bucket up to now).
		newest, err := a.store.NewestMessageID(ctx, pos.Conv)
		if err != nil {
			return pos, false, err
		}
		if len(page.Messages) > 0 || newest == 0 || newest > pos.After { // 0: not known (before v0006)
			return pos, true, nil
		}
	}
	// This conversation is done: the next one after it.
	return ExportPosition{Phase: ExportMessages, After: pos.Conv}, true, nil
}
