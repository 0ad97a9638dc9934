package chat

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ringchat/ringchat/repo"
)

// Fuzz targets for the checks of client text; seeds are below and under
// testdata/fuzz/, and `make fuzz` runs each for a few seconds.

func FuzzHandle(f *testing.F) {
	for _, s := range []string{"abc", "ab", "Alice_1.x", strings.Repeat("a", 33), "a b c", "ÄBC", "İab", "abc\x00"} {
		f.Add(s)
	}
	plain := regexp.MustCompile(`^[a-zA-Z0-9_.]{3,32}$`)
	f.Fuzz(func(t *testing.T, s string) {
		err := validateHandle(s)
		if (err == nil) != plain.MatchString(s) {
			t.Fatalf("%q: accepted=%v, but the documented pattern says %v", s, err == nil, plain.MatchString(s))
		}
	})
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"hi", "", "   ", "\xff", strings.Repeat("é", 1001), "a\u0000b"} {
		f.Add(s, false)
	}
	l := DefaultLimits()
	f.Fuzz(func(t *testing.T, s string, hasMedia bool) {
		err := l.validateBody(s, hasMedia)
		if err == nil {
			if !utf8.ValidString(s) || len(s) > l.MessageBytes || utf8.RuneCountInString(s) > l.MessageChars {
				t.Fatalf("%q accepted", s)
			}
			if !hasMedia && strings.TrimSpace(s) == "" {
				t.Fatalf("blank body %q accepted without media", s)
			}
			return
		}
		code := repo.ErrorCode(err)
		if code != repo.CodeInvalidArgument && code != repo.CodeTooLarge {
			t.Fatalf("%q: code %s", s, code)
		}
		if err := validatePassword(s); err == nil && (utf8.RuneCountInString(s) < 8 || len(s) > 1024) {
			t.Fatalf("password %q accepted", s)
		}
		_ = validateClientMsgID(s)
	})
}

// FuzzValidateText: the one-pass check answers as the three passes it
// replaced (validity, trimmed count, count) did.
func FuzzValidateText(f *testing.F) {
	for _, s := range []string{"hi", "", "  a  ", " \u00a0\u2003x\u3000 ", "\xff", "a\xed\xa0\x80", "é", "\ufffd", strings.Repeat("😀", 3)} {
		f.Add(s, 1, 3)
	}
	f.Fuzz(func(t *testing.T, s string, minChars, maxChars int) {
		var want string
		switch {
		case !utf8.ValidString(s):
			want = "body is not valid UTF-8"
		case utf8.RuneCountInString(strings.TrimSpace(s)) < minChars:
			want = "body must not be empty"
		case utf8.RuneCountInString(s) > maxChars:
			want = "body must be at most " + strconv.Itoa(maxChars) + " characters"
		}
		got := ""
		if err := validateText("body", s, minChars, maxChars); err != nil {
			got = repo.ErrorMessage(err)
		}
		if got != want {
			t.Fatalf("%q (%d-%d characters): %q, want %q", s, minChars, maxChars, got, want)
		}
	})
}
