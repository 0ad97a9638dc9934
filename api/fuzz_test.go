package api

import (
	"math"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/ws"
	"github.com/ringchat/ringchat/repo"
)

// Fuzz targets for everything that reads client bytes. Seeds are below and
// under testdata/fuzz/; `make fuzz` runs each for a few seconds.

// canonicalID is the document's ID pattern: what parseID must accept, exactly.
var canonicalID = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "0", "-1", "+5", "007", "9223372036854775807", "9223372036854775808", "", " 1", "1e3", "0x10", "١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseID("id", s)
		if err != nil {
			if code, _, _ := classify(err); code != repo.CodeInvalidArgument {
				t.Fatalf("%q: code %s", s, code)
			}
			if canonicalID.MatchString(s) && len(s) < 19 {
				t.Fatalf("%q refused: %v", s, err)
			}
			return
		}
		if id <= 0 || !canonicalID.MatchString(s) || strconv.FormatInt(id, 10) != s {
			t.Fatalf("%q accepted as %d: not the canonical form the contract documents", s, id)
		}
	})
}

func FuzzCursor(f *testing.F) {
	for _, s := range []string{encodeCursor("before", 42), encodeCursor("after", 0), encodeCursor("sync", math.MaxInt64), "", "!!", "YmVmb3JlOi0x", "Ojo6", "YWZ0ZXI6OTIyMzM3MjAzNjg1NDc3NTgwOA"} {
		f.Add(s, "before", int64(7))
	}
	f.Fuzz(func(t *testing.T, s, kind string, id int64) {
		if got, err := decodeCursor(kind, s); err == nil {
			if got < 0 {
				t.Fatalf("%q decoded to a negative id %d", s, got)
			}
		} else if code, _, _ := classify(err); code != repo.CodeInvalidArgument {
			t.Fatalf("%q: code %s", s, code)
		}
		if id < 0 || strings.Contains(kind, ":") {
			return
		}
		back, err := decodeCursor(kind, encodeCursor(kind, id))
		if err != nil || back != id {
			t.Fatalf("round trip of (%q, %d): %d, %v", kind, id, back, err)
		}
		if other := kind + "x"; true {
			if _, err := decodeCursor(other, encodeCursor(kind, id)); err == nil {
				t.Fatalf("a %q cursor was accepted as a %q cursor", kind, other)
			}
		}
	})
}

func FuzzChatListCursor(f *testing.F) {
	f.Add(encodeChatCursor(repo.ChatKey{Section: repo.SectionPinned, Activity: 5, ConvID: 9}), int64(5), int64(9), true)
	f.Add("", int64(0), int64(1), false)
	f.Add("...", int64(1), int64(1), false)
	f.Add(encodeCursor("chats", 1)+".", int64(1), int64(1), false)
	f.Fuzz(func(t *testing.T, s string, activity, convID int64, pinned bool) {
		if _, err := decodeChatCursor(s); err != nil {
			if code, _, _ := classify(err); code != repo.CodeInvalidArgument {
				t.Fatalf("%q: code %s", s, code)
			}
		}
		if activity < 0 || convID < 0 {
			return
		}
		k := repo.ChatKey{Section: repo.SectionMain, Activity: activity, ConvID: convID}
		if pinned {
			k.Section = repo.SectionPinned
		}
		back, err := decodeChatCursor(encodeChatCursor(k))
		if err != nil || back != k {
			t.Fatalf("round trip of %+v: %+v, %v", k, back, err)
		}
	})
}

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
		code, _, _ := classify(err)
		if code != repo.CodeInvalidArgument && code != repo.CodeTooLarge {
			t.Fatalf("%q: code %s", s, code)
		}
		if err := validatePassword(s); err == nil && (utf8.RuneCountInString(s) < 8 || len(s) > 1024) {
			t.Fatalf("password %q accepted", s)
		}
		_ = validateClientMsgID(s)
	})
}

// goTypeLeak is what a client must never read in an error message.
var goTypeLeak = regexp.MustCompile(`\bapi\.|\brepo\.|\bint(8|16|32|64)\b|\buint|float(32|64)|\[\]|map\[|struct \{|Go value|json: `)

// FuzzBodies decodes arbitrary bytes as every request body type: no panic, and
// a refusal is a clean 400 (or 413) without Go's words in it.
func FuzzBodies(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"body": 5}`, `{"member_ids": "x"}`, `{"size": 1e400}`, `{"handle":"a","password":"b"}{}`, "\xff", ``, `{"media_ids":[1]}`} {
		f.Add([]byte(s))
	}
	targets := []func() any{
		func() any { return new(sendRequest) }, func() any { return new(createConversationRequest) },
		func() any { return new(registerRequest) }, func() any { return new(loginRequest) },
		func() any { return new(patchMeRequest) }, func() any { return new(createMediaRequest) },
		func() any { return new(patchGroupRequest) }, func() any { return new(putMemberRequest) },
		func() any { return new(map[string]any) },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dst := range targets {
			req := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			err := bindJSON(echo.New().NewContext(req, httptest.NewRecorder()), dst())
			if err == nil {
				continue
			}
			code, msg, status := classify(err)
			if (code != repo.CodeInvalidArgument || status != 400) && code != repo.CodeTooLarge {
				t.Fatalf("%q: %s %d", body, code, status)
			}
			if goTypeLeak.MatchString(msg) {
				t.Fatalf("%q: message %q names Go internals", body, msg)
			}
		}
	})
}

// FuzzConvFrame decodes the data of conversation frames (typing, delivered, read).
func FuzzConvFrame(f *testing.F) {
	for _, s := range []string{`{"conversation_id":"1","up_to":"2"}`, `{"conversation_id":1}`, `null`, `"x"`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req convFrame
		id, err := frameHandler{}.parseConvFrame(ws.Frame{Type: "typing", Data: data}, &req)
		if err == nil && id <= 0 {
			t.Fatalf("%q: id %d accepted", data, id)
		}
	})
}
