package api

import (
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

func TestPageSize(t *testing.T) {
	s := &Server{cfg: DefaultConfig()}
	if _, err := s.pageSize("101"); err == nil {
		t.Error("page size 101 accepted")
	}
	if n, _ := s.pageSize(""); n != 50 {
		t.Errorf("default page size %d", n)
	}
}
