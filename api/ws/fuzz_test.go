package ws

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzParseFrame: no panic; a frame is accepted only if it is UTF-8 JSON with
// a type, and what is accepted survives a round trip.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{`{"type":"ping","ref":"1"}`, `{"type":""}`, `{"type":"message.send","data":{"body":"\u00e9"}}`,
		"{\"type\":\"x\xff\"}", `[]`, `null`, `{"type":1}`, `{"type":"a","data":}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
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
