package api

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ringchat/ringchat/chat"
)

// A message.send frame's data as the benchmark sends it: 4 KB of 4-byte
// characters.
var benchSendData = []byte(`{"conversation_id":"386335978249195520","client_msg_id":"0193b0c4-7d7e-7c3a-9a1b-3c2d1e0f4a5b","body":"1764640000000000000|` +
	strings.Repeat("😀", 975) + `"}`)

// BenchmarkSendData: the data decode and body checks of one message.send.
func BenchmarkSendData(b *testing.B) {
	l := chat.DefaultLimits()
	b.SetBytes(int64(len(benchSendData)))
	for b.Loop() {
		req, ok := decodeSendData(benchSendData)
		if !ok || len(req.Body) > l.MessageBytes || chat.ValidateText("body", req.Body, 1, l.MessageChars) != nil {
			b.Fatal("refused")
		}
	}
}

// BenchmarkSendDataBefore is what the same took before decodeSendData and
// the one-pass validateText.
func BenchmarkSendDataBefore(b *testing.B) {
	l := chat.DefaultLimits()
	b.SetBytes(int64(len(benchSendData)))
	for b.Loop() {
		var req sendRequest
		if json.Unmarshal(benchSendData, &req) != nil || len(req.Body) > l.MessageBytes {
			b.Fatal("refused")
		}
		_ = validateTextThreePasses(req.Body)
	}
}

func validateTextThreePasses(s string) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(strings.TrimSpace(s)) >= 1 && utf8.RuneCountInString(s) <= 1000
}
