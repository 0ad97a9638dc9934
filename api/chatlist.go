package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

type chatJSON struct {
	Conversation conversationJSON  `json:"conversation"`
	Peer         *userJSON         `json:"peer"` // direct conversations: the other member
	LastMessage  *chat.MessageJSON `json:"last_message"`
	UnreadCount  int               `json:"unread_count"`
	UnreadCapped bool              `json:"unread_capped"` // true: "at least unread_count"
	MutedUntil   *time.Time        `json:"muted_until"`
	Pinned       bool              `json:"pinned"`
	Archived     bool              `json:"archived"`
}

// chatEntryParallelism bounds the point reads one page does at once.
const chatEntryParallelism = 8

// listConversations is the chat list: pinned first, then by latest activity,
// read as slices of chats_by_activity (repo/chatpositions.go). A page costs
// at most 2 x limit list rows and, per row, a fixed number of point reads
// (settings, position, conversation, membership, newest message, watermark,
// peer) plus an unread count of at most a few hundred rows: neither history
// length nor how many conversations the user has matters.
func (s *Server) listConversations(c echo.Context) error {
	limit, err := s.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	sections := []int{repo.SectionPinned, repo.SectionMain}
	if c.QueryParam("archived") == "true" {
		sections = []int{repo.SectionArchived}
	}
	var after *repo.ChatKey
	if cur := c.QueryParam("cursor"); cur != "" {
		k, err := decodeChatCursor(cur)
		if err != nil {
			return err
		}
		if !slices.Contains(sections, k.Section) {
			return invalid("cursor belongs to another list")
		}
		after = &k
	}
	ctx := c.Request().Context()
	me := session(c).UserID
	if after == nil {
		if err := s.store.EnsureChatList(ctx, me); err != nil {
			return err
		}
	}
	out := []chatJSON{}
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
			keys, err := s.store.ChatsPage(ctx, me, sec, from, n)
			if err != nil {
				return err
			}
			budget -= len(keys)
			chats, err := s.chatEntries(ctx, me, keys)
			if err != nil {
				return err
			}
			out = append(out, chats...)
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
	resp := map[string]any{"conversations": out}
	if more && last.ConvID != 0 {
		resp["next_cursor"] = encodeChatCursor(last)
	}
	return c.JSON(http.StatusOK, resp)
}

// chatEntries builds the entries of list rows, in order, leaving out stale rows.
func (s *Server) chatEntries(ctx context.Context, me int64, keys []repo.ChatKey) ([]chatJSON, error) {
	chats := make([]*chatJSON, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(chatEntryParallelism)
	for i, k := range keys {
		g.Go(func() error {
			chat, err := s.chatEntry(gctx, me, k)
			chats[i] = chat
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]chatJSON, 0, len(keys))
	for _, c := range chats {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

// chatEntry is one list entry, or nil when the row is stale (repaired here).
func (s *Server) chatEntry(ctx context.Context, me int64, k repo.ChatKey) (*chatJSON, error) {
	row, err := s.store.GetUserConversation(ctx, me, k.ConvID)
	member := err == nil
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return nil, err
	}
	if live, err := s.store.CheckChat(ctx, me, k, member); err != nil || !live {
		return nil, err
	}
	conv, err := s.store.GetConversation(ctx, k.ConvID)
	if repo.IsCode(err, repo.CodeNotFound) {
		return nil, nil // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	mine, err := s.store.GetMember(ctx, k.ConvID, me)
	if repo.IsCode(err, repo.CodeNotFound) {
		return nil, nil // removed meanwhile
	}
	if err != nil {
		return nil, err
	}
	count, peerID := 2, row.PeerID
	if conv.Kind != repo.KindDirect || peerID == 0 {
		members, err := s.store.ListMembers(ctx, k.ConvID) // at most the group bound
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
	entry := &chatJSON{Conversation: conversationOut(conv, count, mine.Role), MutedUntil: optTime(row.MutedUntil),
		Pinned: row.Pinned, Archived: row.Archived}
	if conv.Kind == repo.KindDirect && peerID != 0 {
		u, err := s.store.GetUser(ctx, peerID)
		if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
			return nil, err
		}
		if err == nil {
			p := publicUser(u)
			entry.Peer = &p
		}
	}
	lastID, err := s.store.NewestMessageID(ctx, k.ConvID)
	if err != nil || lastID == 0 {
		return entry, err
	}
	if m, err := s.store.GetMessage(ctx, k.ConvID, lastID); err == nil {
		j := chat.MessageOut(m)
		entry.LastMessage = &j
	} else if !repo.IsCode(err, repo.CodeNotFound) {
		return nil, err
	}
	marks, err := s.store.GetWatermarks(ctx, k.ConvID, me)
	if err != nil {
		return nil, err
	}
	entry.UnreadCount, entry.UnreadCapped, err = s.store.CountUnread(ctx, k.ConvID, me, marks.Read, lastID)
	return entry, err
}

func encodeChatCursor(k repo.ChatKey) string {
	return encodeCursor("chats", k.Activity) + "." + encodeCursor(strconv.Itoa(k.Section), k.ConvID)
}

func decodeChatCursor(s string) (repo.ChatKey, error) {
	a, b, ok := strings.Cut(s, ".")
	if !ok {
		return repo.ChatKey{}, invalid("malformed cursor")
	}
	activity, err := decodeCursor("chats", a)
	if err != nil {
		return repo.ChatKey{}, err
	}
	for _, sec := range []int{repo.SectionPinned, repo.SectionMain, repo.SectionArchived} {
		if conv, err := decodeCursor(strconv.Itoa(sec), b); err == nil {
			return repo.ChatKey{Section: sec, Activity: activity, ConvID: conv}, nil
		}
	}
	return repo.ChatKey{}, invalid("malformed cursor")
}

// putMySettings changes the caller's own mute, pin and archive of a conversation.
func (s *Server) putMySettings(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := bindJSON(c, &raw); err != nil {
		return err
	}
	var set repo.ConversationSettings
	if v, ok := raw["muted_until"]; ok {
		var t *time.Time
		if err := json.Unmarshal(v, &t); err != nil {
			return invalid("muted_until must be an RFC 3339 time or null")
		}
		zero := time.Time{}
		if t == nil {
			t = &zero
		}
		set.MutedUntil = t
	}
	for name, dst := range map[string]**bool{"pinned": &set.Pinned, "archived": &set.Archived} {
		if v, ok := raw[name]; ok {
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return invalid("%s must be true or false", name)
			}
			*dst = &b
		}
	}
	ctx := c.Request().Context()
	me := session(c).UserID
	if _, err := s.store.Authorize(ctx, convID, me); err != nil {
		return err
	}
	if err := s.store.UpdateSettings(ctx, me, convID, set); err != nil {
		return err
	}
	row, err := s.store.GetUserConversation(ctx, me, convID)
	if err != nil {
		return err
	}
	if set.Pinned != nil || set.Archived != nil {
		if err := s.store.SetChatSection(ctx, me, convID, repo.SectionOf(row.Pinned, row.Archived)); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"muted_until": optTime(row.MutedUntil), "pinned": row.Pinned, "archived": row.Archived})
}
