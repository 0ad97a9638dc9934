package api

import (
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
