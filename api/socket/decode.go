package socket

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/internal/jsonscan"
)

// decodeSendData reads a message.send frame's data in one pass when it is
// the usual object of conversation_id, client_msg_id and body strings: the
// 4 KB body is scanned once and copied once, where encoding/json validated
// and scanned it twice more (issue 13). ok is false for anything else --
// media_ids or reply_to, another or a repeated key, an escaped key, a
// string that is not valid UTF-8 -- which messageSend decodes with
// encoding/json, the contract's answer (FuzzSendData holds the two to one
// answer). A string with an escape is unquoted by encoding/json alone.
func decodeSendData(data []byte) (req wire.SendRequest, ok bool) {
	var seen [3]bool
	end, ok := jsonscan.Object(data, jsonscan.Space(data, 0), func(key []byte, escaped bool, at int) (int, bool) {
		var dst *string
		k := -1
		switch string(key) {
		case "conversation_id":
			k, dst = 0, &req.ConversationID
		case "client_msg_id":
			k, dst = 1, &req.ClientMsgID
		case "body":
			k, dst = 2, &req.Body
		}
		if escaped || k < 0 || seen[k] {
			return 0, false
		}
		seen[k] = true
		end, escaped, ok := jsonscan.String(data, at)
		switch {
		case !ok:
			return 0, false
		case escaped:
			return end, json.Unmarshal(data[at:end], dst) == nil
		case !utf8.Valid(data[at+1 : end-1]):
			return 0, false // encoding/json would write U+FFFD for the bad bytes
		}
		*dst = string(data[at+1 : end-1])
		return end, true
	})
	return req, ok && jsonscan.Space(data, end) == len(data)
}
