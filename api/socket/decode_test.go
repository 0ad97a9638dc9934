package socket

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ringchat/ringchat/api/wire"
)

// A message.send frame's data as the benchmark sends it: 4 KB of 4-byte
// characters.
var benchSendData = []byte(`{"conversation_id":"386335978249195520","client_msg_id":"0193b0c4-7d7e-7c3a-9a1b-3c2d1e0f4a5b","body":"1764640000000000000|` +
	strings.Repeat("😀", 975) + `"}`)

// BenchmarkSendData: the data decode of one message.send (its body checks
// are chat's: BenchmarkValidateBody).
func BenchmarkSendData(b *testing.B) {
	b.SetBytes(int64(len(benchSendData)))
	for b.Loop() {
		if _, ok := decodeSendData(benchSendData); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkSendDataBefore is what the same took before decodeSendData.
func BenchmarkSendDataBefore(b *testing.B) {
	b.SetBytes(int64(len(benchSendData)))
	for b.Loop() {
		var req wire.SendRequest
		if json.Unmarshal(benchSendData, &req) != nil {
			b.Fatal("refused")
		}
	}
}
