package chat

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Wire types: ids are decimal strings so JavaScript keeps them exact; times are RFC 3339 UTC.

// IDString renders an id as the API does: a decimal string, "" for 0.
func IDString(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// IDOrNull renders an optional id: null when unset.
func IDOrNull(id int64) *string {
	if id == 0 {
		return nil
	}
	s := strconv.FormatInt(id, 10)
	return &s
}

// TimeOrNull renders an optional time in UTC: null when unset.
func TimeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// MessageJSON is a message as the API shows it, stored in inbox rows and
// pushed in events: the one shape every door and row shares.
type MessageJSON struct {
	ID             string          `json:"id"`
	ConversationID string          `json:"conversation_id"`
	SenderID       string          `json:"sender_id"`
	ClientMsgID    string          `json:"client_msg_id"`
	Body           string          `json:"body"`
	Media          json.RawMessage `json:"media"`
	ReplyTo        *string         `json:"reply_to"`
	CreatedAt      time.Time       `json:"created_at"`
	EditedAt       *time.Time      `json:"edited_at"`
	Recalled       bool            `json:"recalled"`
}

// MessageOut renders a message for the API and the rows that store it.
func MessageOut(m repo.Message) MessageJSON {
	media := json.RawMessage(m.Media)
	if len(media) == 0 {
		media = json.RawMessage("[]")
	}
	return MessageJSON{ID: IDString(m.ID), ConversationID: IDString(m.ConvID), SenderID: IDString(m.SenderID),
		ClientMsgID: m.ClientMsgID, Body: m.Body, Media: media, ReplyTo: IDOrNull(m.ReplyTo),
		CreatedAt: m.CreatedAt.UTC(), EditedAt: TimeOrNull(m.EditedAt), Recalled: m.Recalled}
}

// ConversationJSON is a conversation as one member sees it, in answers and
// in the events that carry it (member.added, conversation.updated).
type ConversationJSON struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	PhotoMediaID *string   `json:"photo_media_id"`
	Announcement string    `json:"announcement"`
	CreatedAt    time.Time `json:"created_at"`
	MemberCount  int       `json:"member_count"`
	MyRole       string    `json:"my_role"`
}

// ConversationOut renders a conversation for a member of role among members.
func ConversationOut(conv repo.Conversation, members int, role string) ConversationJSON {
	return ConversationJSON{ID: IDString(conv.ID), Kind: conv.Kind, Name: conv.Name,
		PhotoMediaID: IDOrNull(conv.PhotoMediaID), Announcement: conv.Announcement,
		CreatedAt: conv.CreatedAt.UTC(), MemberCount: members, MyRole: role}
}

// MemberJSON is a member as answers and member.updated events show it.
type MemberJSON struct {
	UserID   string `json:"user_id"`
	Role     string `json:"role"`
	JoinedAt string `json:"joined_at"`
}

// MemberOut renders a member.
func MemberOut(m repo.Member) MemberJSON {
	return MemberJSON{UserID: IDString(m.UserID), Role: m.Role, JoinedAt: m.JoinedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
}

// memberEvent is a member.added or member.removed event's data.
func memberEvent(convID int64, users []int64, by int64, conv ConversationJSON) map[string]any {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = IDString(u)
	}
	return map[string]any{"conversation_id": IDString(convID), "user_ids": ids, "by": IDString(by), "conversation": conv}
}
