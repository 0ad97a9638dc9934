package chat

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// benchBody is a message body as the benchmark sends it: 4 KB of 4-byte
// characters.
var benchBody = "1764640000000000000|" + strings.Repeat("😀", 975)

// BenchmarkValidateBody: the body checks of one send.
func BenchmarkValidateBody(b *testing.B) {
	l := DefaultLimits()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if l.validateBody(benchBody, false) != nil {
			b.Fatal("refused")
		}
	}
}

// BenchmarkValidateBodyBefore is what the same took before the one-pass
// validateText: three passes.
func BenchmarkValidateBodyBefore(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if !utf8.ValidString(benchBody) || utf8.RuneCountInString(strings.TrimSpace(benchBody)) < 1 || utf8.RuneCountInString(benchBody) > 1000 {
			b.Fatal("refused")
		}
	}
}
