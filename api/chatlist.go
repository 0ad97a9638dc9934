package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
)

// maxChatList bounds how many of a user's conversations one listing considers.
const maxChatList = 1000

type chatJSON struct {
	Conversation conversationJSON `json:"conversation"`
	LastMessage  *messageJSON     `json:"last_message"`
	UnreadCount  int              `json:"unread_count"`
	UnreadCapped bool             `json:"unread_capped"` // true: "at least unread_count"
	MutedUntil   *time.Time       `json:"muted_until"`
	Pinned       bool             `json:"pinned"`
	Archived     bool             `json:"archived"`
}

type chatKey struct {
	pinned   int
	activity int64
	convID   int64
}

func (k chatKey) before(o chatKey) bool { // descending order
	if k.pinned != o.pinned {
		return k.pinned > o.pinned
	}
	if k.activity != o.activity {
		return k.activity > o.activity
	}
	return k.convID > o.convID
}

// listConversations is the chat list: pinned first, then by latest activity.
// Its cost is one partition read for the list, one point read per listed
// conversation, and for the page only: the conversation, the last message
// and an unread count capped at repo.UnreadCap. History length never matters.
func (s *Server) listConversations(c echo.Context) error {
	limit, err := s.cfg.Limits.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	var after *chatKey
	if cur := c.QueryParam("cursor"); cur != "" {
		k, err := decodeChatCursor(cur)
		if err != nil {
			return err
		}
		after = &k
	}
	archived := c.QueryParam("archived") == "true"
	ctx := c.Request().Context()
	me := session(c).UserID
	rows, err := s.store.ListUserConversations(ctx, me, 0, maxChatList)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ConvID)
	}
	last, err := s.store.LastMessageIDs(ctx, ids)
	if err != nil {
		return err
	}
	type entry struct {
		row repo.UserConversation
		key chatKey
	}
	var list []entry
	for _, r := range rows {
		if r.Archived != archived {
			continue
		}
		k := chatKey{activity: max(last[r.ConvID], r.ConvID), convID: r.ConvID}
		if r.Pinned {
			k.pinned = 1
		}
		if after == nil || after.before(k) {
			list = append(list, entry{r, k})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key.before(list[j].key) })
	resp := map[string]any{}
	if len(list) > limit {
		list = list[:limit]
		resp["next_cursor"] = encodeChatCursor(list[limit-1].key)
	}
	out := make([]chatJSON, 0, len(list))
	for _, e := range list {
		chat, err := s.chatEntry(ctx, me, e.row, last[e.row.ConvID])
		if err != nil {
			if repo.IsCode(err, repo.CodeNotFound) {
				continue // deleted meanwhile
			}
			return err
		}
		out = append(out, chat)
	}
	resp["conversations"] = out
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) chatEntry(ctx context.Context, me int64, row repo.UserConversation, lastID int64) (chatJSON, error) {
	conv, err := s.store.GetConversation(ctx, row.ConvID)
	if err != nil {
		return chatJSON{}, err
	}
	mine, err := s.store.GetMember(ctx, row.ConvID, me)
	if err != nil {
		return chatJSON{}, err
	}
	members, err := s.store.ListMembers(ctx, row.ConvID)
	if err != nil {
		return chatJSON{}, err
	}
	chat := chatJSON{Conversation: conversationOut(conv, len(members), mine.Role), MutedUntil: optTime(row.MutedUntil),
		Pinned: row.Pinned, Archived: row.Archived}
	if lastID != 0 {
		if m, err := s.store.GetMessage(ctx, row.ConvID, lastID); err == nil {
			j := messageOut(m)
			chat.LastMessage = &j
		} else if !repo.IsCode(err, repo.CodeNotFound) {
			return chatJSON{}, err
		}
		marks, err := s.store.GetWatermarks(ctx, row.ConvID, me)
		if err != nil {
			return chatJSON{}, err
		}
		if chat.UnreadCount, err = s.store.CountUnread(ctx, row.ConvID, marks.Read, lastID); err != nil {
			return chatJSON{}, err
		}
		chat.UnreadCapped = chat.UnreadCount >= repo.UnreadCap
	}
	return chat, nil
}

func encodeChatCursor(k chatKey) string {
	return encodeCursor("chats", k.activity) + "." + encodeCursor(fmt.Sprint(k.pinned), k.convID)
}

func decodeChatCursor(s string) (chatKey, error) {
	var a, b string
	for i := range s {
		if s[i] == '.' {
			a, b = s[:i], s[i+1:]
		}
	}
	activity, err := decodeCursor("chats", a)
	if err != nil {
		return chatKey{}, err
	}
	for _, p := range []int{0, 1} {
		if conv, err := decodeCursor(fmt.Sprint(p), b); err == nil {
			return chatKey{pinned: p, activity: activity, convID: conv}, nil
		}
	}
	return chatKey{}, invalid("malformed cursor")
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
	return c.JSON(http.StatusOK, map[string]any{"muted_until": optTime(row.MutedUntil), "pinned": row.Pinned, "archived": row.Archived})
}
