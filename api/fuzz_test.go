package api

import (
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/wire"
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

// FuzzSyncCursor: a sync cursor either decodes to a position that satisfies
// its invariants and encodes back to itself, or is invalid_argument.
func FuzzSyncCursor(f *testing.F) {
	f.Add(encodeSyncCursor(repo.SyncCursor{At: 5}), int64(1), int64(2), int64(3), int64(4))
	f.Add(encodeSyncCursor(repo.SyncCursor{At: 1, PullAfter: 2, Within: 3, Upper: 9}), int64(0), int64(0), int64(0), int64(0))
	f.Add("c3luYzox", int64(-1), int64(0), int64(0), int64(1))
	f.Fuzz(func(t *testing.T, s string, at, pullAfter, within, upper int64) {
		c, err := decodeSyncCursor(s)
		if err != nil {
			if code, _, _ := classify(err); code != repo.CodeInvalidArgument {
				t.Fatalf("%q: code %s", s, code)
			}
		} else {
			if c.At < 0 || c.PullAfter < 0 || c.Within < 0 || c.Upper < 0 || (c.Upper != 0 && (c.Upper < c.At || c.Within > c.Upper)) {
				t.Fatalf("%q decoded to an impossible position %+v", s, c)
			}
			if back, err := decodeSyncCursor(encodeSyncCursor(c)); err != nil || back != c {
				t.Fatalf("%q: %+v does not round-trip: %+v, %v", s, c, back, err)
			}
		}
		in := repo.SyncCursor{At: at, PullAfter: pullAfter, Within: within, Upper: upper}
		if at < 0 || pullAfter < 0 || within < 0 || upper <= 0 || upper < at || within > upper {
			return
		}
		if back, err := decodeSyncCursor(encodeSyncCursor(in)); err != nil || back != in {
			t.Fatalf("round trip of %+v: %+v, %v", in, back, err)
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

// goTypeLeak is what a client must never read in an error message.
var goTypeLeak = regexp.MustCompile(`\bapi\.|\brepo\.|\bint(8|16|32|64)\b|\buint|float(32|64)|\[\]|map\[|struct \{|Go value|json: `)

// FuzzBodies decodes arbitrary bytes as every request body type: no panic, and
// a refusal is a clean 400 (or 413) without Go's words in it.
func FuzzBodies(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"body": 5}`, `{"member_ids": "x"}`, `{"size": 1e400}`, `{"handle":"a","password":"b"}{}`, "\xff", ``, `{"media_ids":[1]}`} {
		f.Add([]byte(s))
	}
	targets := []func() any{
		func() any { return new(wire.SendRequest) }, func() any { return new(createConversationRequest) },
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
