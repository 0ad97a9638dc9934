package chat

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
)

// ChatEntry is one conversation of a user's chat list.
type ChatEntry struct {
	View         ConversationView
	Peer         *repo.User    // a direct conversation's other member, if they still exist
	LastMessage  *repo.Message // the newest message, if any
	UnreadCount  int
	UnreadCapped bool // true: "at least UnreadCount"
	Settings     repo.UserConversation
}

// chatEntryParallelism bounds the point reads one page does at once.
const chatEntryParallelism = 8

// ChatList is a page of the caller's chat list from the sections given, in
// order (pinned, then main; or archived), each by latest activity, read as
// slices of chats_by_activity (repo/chatpositions.go); after continues a page
// (nil: the first, which builds a missing list first). next is where the
// next page starts, nil after the last. A page costs at most 2 x limit list
// rows and, per row, a fixed number of point reads (settings, position,
// conversation, membership, newest message, watermark, peer) plus an unread
// count of at most a few hundred rows: neither history length nor how many
// conversations the user has matters. Stale rows are repaired, not shown.
//
// Codes: invalid_argument (after belongs to none of the sections).
func (a *App) ChatList(ctx context.Context, me repo.Session, sections []int, after *repo.ChatKey, limit int) ([]ChatEntry, *repo.ChatKey, error) {
	if after != nil && !slices.Contains(sections, after.Section) {
		return nil, nil, invalid("cursor belongs to another list")
	}
	if after == nil {
		if err := a.store.EnsureChatList(ctx, me.UserID); err != nil {
			return nil, nil, err
		}
	}
	out := []ChatEntry{}
	budget := 2 * limit // rows examined, stale ones included
	var last repo.ChatKey
	more := false
	for _, sec := range sections {
		var from *repo.ChatKey
		if after != nil {
			if sec < after.Section {
				continue
			}
			if sec == after.Section {
				from = after
			}
		}
		for len(out) < limit && budget > 0 {
			n := min(limit-len(out), budget)
			keys, err := a.store.ChatsPage(ctx, me.UserID, sec, from, n)
			if err != nil {
				return nil, nil, err
			}
			budget -= len(keys)
			entries, err := a.chatEntries(ctx, me.UserID, keys)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, entries...)
			if len(keys) > 0 {
				last = keys[len(keys)-1]
				from = &last
			}
			if len(keys) < n {
				break // section done
			}
		}
		if len(out) >= limit || budget <= 0 {
			more = true
			break
		}
	}
	if more && last.ConvID != 0 {
		return out, &last, nil
	}
	return out, nil, nil
}

// chatEntries builds the entries of list rows, in order, leaving out stale rows.
func (a *App) chatEntries(ctx context.Context, me int64, keys []repo.ChatKey) ([]ChatEntry, error) {
	entries := make([]*ChatEntry, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(chatEntryParallelism)
	for i, k := range keys {
		g.Go(func() error {
			e, err := a.chatEntry(gctx, me, k)
			entries[i] = e
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]ChatEntry, 0, len(keys))
	for _, e := range entries {
		if e != nil {
			out = append(out, *e)
		}
	}
	return out, nil
}

// chatEntry is one list entry, or nil when the row is stale (repaired here).
func (a *App) chatEntry(ctx context.Context, me int64, k repo.ChatKey) (*ChatEntry, error) {
	row, err := a.store.GetUserConversation(ctx, me, k.ConvID)
	member := err == nil
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return nil, err
	}
	if live, err := a.store.CheckChat(ctx, me, k, member); err != nil || !live {
		return nil, err
	}
	conv, err := a.store.GetConversation(ctx, k.ConvID)
	if repo.IsCode(err, repo.CodeNotFound) {
		return nil, nil // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	mine, err := a.store.GetMember(ctx, k.ConvID, me)
	if repo.IsCode(err, repo.CodeNotFound) {
		return nil, nil // removed meanwhile
	}
	if err != nil {
		return nil, err
	}
	count, peerID := 2, row.PeerID
	if conv.Kind != repo.KindDirect || peerID == 0 {
		members, err := a.store.ListMembers(ctx, k.ConvID) // at most the group bound
		if err != nil {
			return nil, err
		}
		count = len(members)
		for _, m := range members {
			if conv.Kind == repo.KindDirect && m.UserID != me {
				peerID = m.UserID
			}
		}
	}
	entry := &ChatEntry{View: ConversationView{Conversation: conv, MemberCount: count, Role: mine.Role}, Settings: row}
	if conv.Kind == repo.KindDirect && peerID != 0 {
		u, err := a.store.GetUser(ctx, peerID)
		if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
			return nil, err
		}
		if err == nil {
			entry.Peer = &u
		}
	}
	lastID, err := a.store.NewestMessageID(ctx, k.ConvID)
	if err != nil || lastID == 0 {
		return entry, err
	}
	if m, err := a.store.GetMessage(ctx, k.ConvID, lastID); err == nil {
		entry.LastMessage = &m
	} else if !repo.IsCode(err, repo.CodeNotFound) {
		return nil, err
	}
	marks, err := a.store.GetWatermarks(ctx, k.ConvID, me)
	if err != nil {
		return nil, err
	}
	entry.UnreadCount, entry.UnreadCapped, err = a.store.CountUnread(ctx, k.ConvID, me, marks.Read, lastID)
	return entry, err
}

// SetChatSettings changes the caller's own mute, pin, archive and previews of a
// conversation (nil fields stay) and returns the settings as they are now.
//
// Codes: permission_denied (not a member); not_found (no conversation).
func (a *App) SetChatSettings(ctx context.Context, me repo.Session, convID int64, set repo.ConversationSettings) (repo.UserConversation, error) {
	if _, err := a.store.Authorize(ctx, convID, me.UserID); err != nil {
		return repo.UserConversation{}, err
	}
	if err := a.store.UpdateSettings(ctx, me.UserID, convID, set); err != nil {
		return repo.UserConversation{}, err
	}
	row, err := a.store.GetUserConversation(ctx, me.UserID, convID)
	if err != nil {
		return repo.UserConversation{}, err
	}
	if set.Pinned != nil || set.Archived != nil {
		if err := a.store.SetChatSection(ctx, me.UserID, convID, repo.SectionOf(row.Pinned, row.Archived)); err != nil {
			return repo.UserConversation{}, err
		}
	}
	return row, nil
}
