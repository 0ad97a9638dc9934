package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseFrame: no panic; a frame is accepted only if it is UTF-8 JSON with
// a type, and what is accepted survives a round trip.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{`{"type":"ping","ref":"1"}`, `{"type":""}`, `{"type":"message.send","data":{"body":"\u00e9"}}`,
		"{\"type\":\"x\xff\"}", `[]`, `null`, `{"type":1}`, `{"type":"a","data":}`, ``,
		` {"ref":"r", "data" : [1,{"a":null}], "type":"typing" } `, `{"type":"a","data":null}`, `{"type":"a","type":"b"}`,
		`{"Type":"a"}`, `{"type":"a\u0062"}`, `{"type":"a","data":{"x":1}}x`, `{"type":"a","data":01}`, `{"type":"a","extra":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if fast, ok := scanFrame(data); ok && utf8.Valid(data) {
			// The one-pass path answers what encoding/json would (parseFrame
			// checks UTF-8 first).
			var slow Frame
			if err := json.Unmarshal(data, &slow); err != nil || fast.Type != slow.Type || fast.Ref != slow.Ref ||
				!bytes.Equal(fast.Data, slow.Data) || (fast.Data == nil) != (slow.Data == nil) {
				t.Fatalf("%q: scanned %+v, encoding/json %+v (%v)", data, fast, slow, err)
			}
		}
		fr, err := parseFrame(data)
		if !utf8.Valid(data) {
			if !errors.Is(err, errNotUTF8) {
				t.Fatalf("%q: not UTF-8, yet %v", data, err)
			}
			return
		}
		if err != nil {
			return
		}
		if fr.Type == "" {
			t.Fatalf("%q accepted without a type", data)
		}
		raw, err := json.Marshal(fr)
		if err != nil {
			t.Fatalf("%q: accepted frame does not encode: %v", data, err)
		}
		back, err := parseFrame(raw)
		if err != nil || back.Type != fr.Type || back.Ref != fr.Ref {
			t.Fatalf("%q: round trip %+v → %+v, %v", data, fr, back, err)
		}
	})
}

var benchFrame = []byte(`{"type":"message.send","ref":"12345","data":{"conversation_id":"386335978249195520","client_msg_id":"0193b0c4-7d7e-7c3a-9a1b-3c2d1e0f4a5b","body":"1764640000000000000|` +
	strings.Repeat("😀", 975) + `"}}`)

// BenchmarkParseFrame: the envelope of one 4 KB message.send, in one pass.
func BenchmarkParseFrame(b *testing.B) {
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		if _, err := parseFrame(benchFrame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseFrameBefore is the encoding/json path parseFrame took alone.
func BenchmarkParseFrameBefore(b *testing.B) {
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		var f Frame
		if !utf8.Valid(benchFrame) || json.Unmarshal(benchFrame, &f) != nil {
			b.Fatal("refused")
		}
	}
}

// FuzzRawReply: a reply assembled around encoded data (ReplyRaw, the ack of
// a send) is byte for byte what Reply encodes, whatever ref the client chose.
func FuzzRawReply(f *testing.F) {
	for _, s := range []string{"", "1", `"`, `\`, "</script>", "a\u2028b", "\x00", "\xff", "é&<>"} {
		f.Add(s, `{"message":{"id":"1","body":"x<y"}}`)
	}
	f.Fuzz(func(t *testing.T, ref, data string) {
		var v any
		if json.Unmarshal([]byte(data), &v) != nil {
			return
		}
		compact, err := json.Marshal(v) // data as encoding/json writes it
		if err != nil {
			return
		}
		want, err := json.Marshal(reply{Type: "ack", Ref: ref, Data: v})
		if err != nil {
			t.Fatal(err)
		}
		if got := rawReply(ref, "ack", compact); !bytes.Equal(got, want) {
			t.Fatalf("ref %q data %s: raw %s, Reply %s", ref, compact, got, want)
		}
		k := len(ref) % (len(compact) + 1) // the data in two parts, as an ack joins them
		if got := rawReply(ref, "ack", compact[:k], compact[k:]); !bytes.Equal(got, want) {
			t.Fatalf("ref %q data %s in parts at %d: raw %s, Reply %s", ref, compact, k, got, want)
		}
	})
}
