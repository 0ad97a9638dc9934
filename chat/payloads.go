package chat

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Wire types: ids are decimal strings so JavaScript keeps them exact; times are RFC 3339 UTC.

func idStr(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// optID renders an optional id: null when unset.
func optID(id int64) *string {
	if id == 0 {
		return nil
	}
	s := strconv.FormatInt(id, 10)
	return &s
}

func optTime(t time.Time) *time.Time {
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
	return MessageJSON{ID: idStr(m.ID), ConversationID: idStr(m.ConvID), SenderID: idStr(m.SenderID),
		ClientMsgID: m.ClientMsgID, Body: m.Body, Media: media, ReplyTo: optID(m.ReplyTo),
		CreatedAt: m.CreatedAt.UTC(), EditedAt: optTime(m.EditedAt), Recalled: m.Recalled}
}
