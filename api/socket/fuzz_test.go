package socket

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/delivery/ws"
)

// Fuzz targets for the frames' data; seeds are below and under
// testdata/fuzz/, and `make fuzz` runs each for a few seconds.

// FuzzConvFrame decodes the data of conversation frames (typing, delivered, read).
func FuzzConvFrame(f *testing.F) {
	for _, s := range []string{`{"conversation_id":"1","up_to":"2"}`, `{"conversation_id":1}`, `null`, `"x"`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req convFrame
		id, err := parseConvFrame(ws.Frame{Type: "typing", Data: data}, &req)
		if err == nil && id <= 0 {
			t.Fatalf("%q: id %d accepted", data, id)
		}
	})
}

// FuzzSendData: whenever the one-pass decoder reads a message.send frame's
// data, encoding/json reads the same request from it.
func FuzzSendData(f *testing.F) {
	for _, s := range []string{`{"conversation_id":"1","client_msg_id":"0193b0c4-7d7e-7c3a-9a1b-3c2d1e0f4a5b","body":"hi 😀"}`,
		` { "body" : "a\"b\u00e9\ud83d\ude00" , "conversation_id":"1" } `, `{"body":"x","body":"y"}`, `{"Body":"x"}`,
		`{"body":"\ud800"}`, "{\"body\":\"\xff\"}", `{"body":5}`, `{"body":null}`, `{"media_ids":["1"],"body":""}`,
		`{"b\u006fdy":"x"}`, `{}`, `null`, `[]`, `{"body":"x"} `, `{"body":"x"}x`, "{\"body\":\"a\tb\"}", `{"body":"a\qb"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeSendData(data)
		if !ok {
			return
		}
		var slow wire.SendRequest
		if err := json.Unmarshal(data, &slow); err != nil || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: one pass %+v, encoding/json %+v (%v)", data, fast, slow, err)
		}
	})
}
