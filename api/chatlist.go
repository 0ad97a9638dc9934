package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

type chatJSON struct {
	Conversation chat.ConversationJSON `json:"conversation"`
	Peer         *userJSON             `json:"peer"` // direct conversations: the other member
	LastMessage  *chat.MessageJSON     `json:"last_message"`
	UnreadCount  int                   `json:"unread_count"`
	UnreadCapped bool                  `json:"unread_capped"` // true: "at least unread_count"
	MutedUntil   *time.Time            `json:"muted_until"`
	Pinned       bool                  `json:"pinned"`
	Archived     bool                  `json:"archived"`
	Previews     bool                  `json:"previews"` // false: notices of it show no text
}

func chatOut(e chat.ChatEntry) chatJSON {
	out := chatJSON{Conversation: e.View.JSON(), UnreadCount: e.UnreadCount, UnreadCapped: e.UnreadCapped,
		MutedUntil: chat.TimeOrNull(e.Settings.MutedUntil), Pinned: e.Settings.Pinned, Archived: e.Settings.Archived, Previews: !e.Settings.HidePreviews}
	if e.Peer != nil {
		p := publicUser(*e.Peer)
		out.Peer = &p
	}
	if e.LastMessage != nil {
		m := chat.MessageOut(*e.LastMessage)
		out.LastMessage = &m
	}
	return out
}

// listConversations is the chat list (chat.App.ChatList): pinned first, then
// by latest activity; archived=true lists the archived ones.
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
		after = &k
	}
	entries, next, err := s.app.ChatList(c.Request().Context(), session(c), sections, after, limit)
	if err != nil {
		return err
	}
	out := make([]chatJSON, len(entries))
	for i, e := range entries {
		out[i] = chatOut(e)
	}
	resp := map[string]any{"conversations": out}
	if next != nil {
		resp["next_cursor"] = encodeChatCursor(*next)
	}
	return c.JSON(http.StatusOK, resp)
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

// putMySettings changes the caller's own mute, pin, archive and notice previews of a conversation.
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
	for name, dst := range map[string]**bool{"pinned": &set.Pinned, "archived": &set.Archived, "previews": &set.Previews} {
		if v, ok := raw[name]; ok {
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return invalid("%s must be true or false", name)
			}
			*dst = &b
		}
	}
	row, err := s.app.SetChatSettings(c.Request().Context(), session(c), convID, set)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"muted_until": chat.TimeOrNull(row.MutedUntil), "pinned": row.Pinned, "archived": row.Archived,
		"previews": !row.HidePreviews})
}
