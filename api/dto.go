package api

import (
	"encoding/json"
	"time"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// Wire types: ids are decimal strings so JavaScript keeps them exact; times are RFC 3339 UTC.

type userJSON struct {
	ID            string    `json:"id"`
	Handle        string    `json:"handle"`
	DisplayName   string    `json:"display_name"`
	Phone         string    `json:"phone,omitempty"`
	AvatarMediaID *string   `json:"avatar_media_id"`
	CreatedAt     time.Time `json:"created_at"`
	Bot           bool      `json:"bot"`               // an account the admin API made
	Deleted       bool      `json:"deleted,omitempty"` // a deleted account: shown as "Deleted user"
}

// privateUser is what the account owner sees (includes phone).
func privateUser(u repo.User) userJSON {
	j := publicUser(u)
	j.Phone = u.Phone
	j.CreatedAt = u.CreatedAt.UTC()
	return j
}

func publicUser(u repo.User) userJSON {
	if u.Deleted() { // its profile may not be cleared yet: none of it shows
		return userJSON{ID: chat.IDString(u.ID), CreatedAt: u.CreatedAt.UTC(), Bot: u.Bot, Deleted: true}
	}
	return userJSON{ID: chat.IDString(u.ID), Handle: u.Handle, DisplayName: u.DisplayName,
		AvatarMediaID: chat.IDOrNull(u.AvatarMediaID), CreatedAt: u.CreatedAt.UTC(), Bot: u.Bot}
}

type deviceJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	Current   bool      `json:"current"`
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
	return eventJSON{ID: chat.IDString(e.ID), Type: e.Kind, ConversationID: chat.IDString(e.ConvID), Data: data}
}
