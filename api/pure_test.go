package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ringchat/ringchat/repo"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []int64{0, 1, 1 << 40, 1<<63 - 1} {
		c := encodeCursor("sync", id)
		got, err := decodeCursor("sync", c)
		if err != nil || got != id {
			t.Fatalf("round trip of %d: %d, %v", id, got, err)
		}
		if _, err := decodeCursor("before", c); !repo.IsCode(err, repo.CodeInvalidArgument) {
			t.Fatalf("a sync cursor was accepted as a history cursor: %v", err)
		}
	}
	for _, bad := range []string{"", "!!", "c3luYw", "c3luYzotMQ", "c3luYzp4"} { // "", junk, "sync", "sync:-1", "sync:x"
		if _, err := decodeCursor("sync", bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	p := Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}
	h, err := hashPassword("correct horse", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("not a PHC argon2id string: %s", h)
	}
	if !verifyPassword("correct horse", h) || verifyPassword("correct horsE", h) {
		t.Fatal("verify is wrong")
	}
	h2, _ := hashPassword("correct horse", p)
	if h2 == h {
		t.Fatal("two hashes of one password share a salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$a$b", h[:len(h)-3], strings.Replace(h, "v=19", "v=18", 1)} {
		if verifyPassword("correct horse", bad) {
			t.Fatalf("verified against %q", bad)
		}
	}
}

func TestValidation(t *testing.T) {
	l := DefaultLimits()
	ok := []string{"a", strings.Repeat("a", 1000), strings.Repeat("é", 1000), "emoji 😀"}
	for _, b := range ok {
		if err := l.validateBody(b, false); err != nil {
			t.Errorf("body %q refused: %v", b[:min(len(b), 10)], err)
		}
	}
	cases := map[string]repo.Code{
		"":                        repo.CodeInvalidArgument,
		"  \n ":                   repo.CodeInvalidArgument,
		strings.Repeat("a", 1001): repo.CodeInvalidArgument,
		strings.Repeat("😀", 1025): repo.CodeTooLarge,
		"bad \xff":                repo.CodeInvalidArgument,
	}
	for b, code := range cases {
		if err := l.validateBody(b, false); repo.ErrorCode(err) != code {
			t.Errorf("body of %d bytes: got %v, want %s", len(b), err, code)
		}
	}
	for _, h := range []string{"abc", "a.b_c", "ABC", strings.Repeat("z", 32)} {
		if validateHandle(h) != nil {
			t.Errorf("handle %q refused", h)
		}
	}
	for _, h := range []string{"ab", "a b", "a-b", "é.ab", strings.Repeat("z", 33)} {
		if validateHandle(h) == nil {
			t.Errorf("handle %q accepted", h)
		}
	}
	if _, err := l.pageSize("101"); err == nil {
		t.Error("page size 101 accepted")
	}
	if n, _ := l.pageSize(""); n != 50 {
		t.Errorf("default page size %d", n)
	}
}

func TestErrorStatusMapping(t *testing.T) {
	for code, status := range map[repo.Code]int{
		repo.CodeInvalidArgument: 400, repo.CodeUnauthenticated: 401, repo.CodePermissionDenied: 403,
		repo.CodeNotFound: 404, repo.CodeConflict: 409, repo.CodeTooLarge: 413, repo.CodeRateLimited: 429,
		repo.CodeUnavailable: 503, repo.CodeInternal: 500,
	} {
		got, _, st := classify(repo.Errorf(code, "x"))
		if got != code || st != status {
			t.Errorf("%s -> %s %d, want %d", code, got, st, status)
		}
	}
}

func TestDirectMembersCachesOnlyCompleteDirectConversations(t *testing.T) {
	d := newDirectMembers(2)
	two := []repo.Member{{UserID: 1}, {UserID: 2}}
	d.remember(repo.Conversation{ID: 10, Kind: repo.KindGroup}, two)
	d.remember(repo.Conversation{ID: 11, Kind: repo.KindDirect}, two[:1]) // being created: one member row so far
	d.remember(repo.Conversation{ID: 12, Kind: repo.KindDirect}, two)
	for id, want := range map[int64]bool{10: false, 11: false, 12: true} {
		if _, ok := d.get(id); ok != want {
			t.Errorf("conversation %d cached=%v, want %v", id, ok, want)
		}
	}
	if got, _ := d.get(12); got != [2]int64{1, 2} {
		t.Errorf("members %v", got)
	}
	d.remember(repo.Conversation{ID: 13, Kind: repo.KindDirect}, two)
	d.remember(repo.Conversation{ID: 14, Kind: repo.KindDirect}, two)
	if _, ok := d.get(12); ok {
		t.Error("the cache grew past its bound")
	}
	if _, ok := newDirectMembers(0).get(12); ok {
		t.Error("a disabled cache answered")
	}
}

func TestEncodePushIsValidJSON(t *testing.T) {
	for _, e := range []repo.Event{
		{ID: 42, Kind: repo.EventMessageNew, Payload: `{"id":"7","body":"h\u00e9 \"quoted\""}`},
		{Kind: "typing", Payload: `{"user_id":"3"}`},
		{ID: 1, Kind: "receipt"},
	} {
		var got struct {
			Type    string          `json:"type"`
			EventID *string         `json:"event_id"`
			Data    json.RawMessage `json:"data"`
		}
		raw := encodePush(e)
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		wantData := e.Payload
		if wantData == "" {
			wantData = "null"
		}
		if got.Type != e.Kind || string(got.Data) != wantData || (got.EventID == nil) != (e.ID == 0) ||
			(got.EventID != nil && *got.EventID != idStr(e.ID)) {
			t.Errorf("%s decoded as %+v", raw, got)
		}
	}
}
