// Package wire holds the JSON forms the two doors of the public API share:
// ids as decimal strings (JavaScript keeps them exact) and the body of a
// send, so REST and WebSocket frames parse them one way.
package wire

import (
	"fmt"
	"strconv"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// ParseID reads a Snowflake id sent as a decimal string, in its one
// canonical form (no sign, no leading zero), as the contract's ID pattern
// says.
func ParseID(field, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] == '+' || s[0] == '0' {
		return 0, repo.Errorf(repo.CodeInvalidArgument, "%s must be a positive integer id in a string", field)
	}
	return id, nil
}

// OptionalID is ParseID for an id that may be absent ("": 0).
func OptionalID(field, raw string) (int64, error) {
	if raw == "" {
		return 0, nil
	}
	return ParseID(field, raw)
}

// SendRequest is the body of POST .../messages and the data of a
// message.send frame.
type SendRequest struct {
	ConversationID string   `json:"conversation_id"` // frames only; REST takes it from the path
	ClientMsgID    string   `json:"client_msg_id"`
	Body           string   `json:"body"`
	MediaIDs       []string `json:"media_ids"`
	ReplyTo        string   `json:"reply_to"`
}

// Input parses the request's ids into chat's send into convID.
func (r SendRequest) Input(convID int64) (chat.SendInput, error) {
	in := chat.SendInput{ConvID: convID, ClientMsgID: r.ClientMsgID, Body: r.Body}
	var err error
	if in.ReplyTo, err = OptionalID("reply_to", r.ReplyTo); err != nil {
		return chat.SendInput{}, err
	}
	if len(r.MediaIDs) > 0 {
		in.MediaIDs = make([]int64, len(r.MediaIDs))
		for i, raw := range r.MediaIDs {
			if in.MediaIDs[i], err = ParseID(fmt.Sprintf("media_ids[%d]", i), raw); err != nil {
				return chat.SendInput{}, err
			}
		}
	}
	return in, nil
}
