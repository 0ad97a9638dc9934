package api

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

type userJSON struct {
	ID            string    `json:"id"`
	Handle        string    `json:"handle"`
	DisplayName   string    `json:"display_name"`
	Phone         string    `json:"phone,omitempty"`
	AvatarMediaID *string   `json:"avatar_media_id"`
	CreatedAt     time.Time `json:"created_at"`
}

// privateUser is what the account owner sees (includes phone).
func privateUser(u repo.User) userJSON {
	j := publicUser(u)
	j.Phone = u.Phone
	j.CreatedAt = u.CreatedAt.UTC()
	return j
}

func publicUser(u repo.User) userJSON {
	return userJSON{ID: idStr(u.ID), Handle: u.Handle, DisplayName: u.DisplayName,
		AvatarMediaID: optID(u.AvatarMediaID), CreatedAt: u.CreatedAt.UTC()}
}

type deviceJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	Current   bool      `json:"current"`
}

type conversationJSON struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	PhotoMediaID *string   `json:"photo_media_id"`
	Announcement string    `json:"announcement"`
	CreatedAt    time.Time `json:"created_at"`
	MemberCount  int       `json:"member_count"`
	MyRole       string    `json:"my_role"`
}

type messageJSON struct {
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

func messageOut(m repo.Message) messageJSON {
	media := json.RawMessage(m.Media)
	if len(media) == 0 {
		media = json.RawMessage("[]")
	}
	return messageJSON{ID: idStr(m.ID), ConversationID: idStr(m.ConvID), SenderID: idStr(m.SenderID),
		ClientMsgID: m.ClientMsgID, Body: m.Body, Media: media, ReplyTo: optID(m.ReplyTo),
		CreatedAt: m.CreatedAt.UTC(), EditedAt: optTime(m.EditedAt), Recalled: m.Recalled}
}

// eventJSON is one event as sync returns it; WebSocket frames carry the same
// id (event_id) and data.
type eventJSON struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	ConversationID string          `json:"conversation_id"`
	Data           json.RawMessage `json:"data"`
}

func eventOut(e repo.Event) eventJSON {
	data := json.RawMessage(e.Payload)
	if len(data) == 0 {
		// A row without payload that nothing rendered (a reference of a kind
		// this version does not read, a row of a later version): an empty
		// object, not a page that fails to encode (a 500 for the whole sync).
		data = json.RawMessage("{}")
	}
	return eventJSON{ID: idStr(e.ID), Type: e.Kind, ConversationID: idStr(e.ConvID), Data: data}
}

// encodePush builds the WebSocket frame for an event,
// {"type","event_id","data"}, around the payload as stored. Payloads are made
// by json.Marshal, so they are not parsed again: encoding/json re-validated
// and compacted every 4 KB body, a tenth of chatd's CPU in the closed-loop
// benchmark.
func encodePush(e repo.Event) []byte {
	return appendPush(e, e.Payload)
}

// appendPush is encodePush with the payload given apart from the event (a
// send's, as json.Marshal made it: not copied into a string first).
func appendPush[T string | []byte](e repo.Event, data T) []byte {
	kind, _ := json.Marshal(e.Kind)
	if len(data) == 0 {
		data = T("null")
	}
	b := make([]byte, 0, len(kind)+len(data)+48)
	b = append(b, `{"type":`...)
	b = append(b, kind...)
	if e.ID != 0 {
		b = append(b, `,"event_id":"`...)
		b = strconv.AppendInt(b, e.ID, 10)
		b = append(b, '"')
	}
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}
