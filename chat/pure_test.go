package chat

import (
	"strings"
	"testing"

	"github.com/ringchat/ringchat/repo"
)

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

// A rejection reason reaches the sender printable, on one line, bounded.
func TestRejectionReasonIsFitToShow(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "no reason given",
		"  \n\t ":                    "no reason given",
		"no\nlinks\u0000 here":       "no links here",
		"bad \xff utf8":              "bad utf8",
		"\u202e\u0007\u200b":         "no reason given", // bidi override, bell, zero width
		strings.Repeat("é", 300):     strings.Repeat("é", maxReasonRunes),
		"spam: too many links (3/2)": "spam: too many links (3/2)",
	} {
		if got := reason(in); got != want {
			t.Errorf("reason(%q) = %q, want %q", in, got, want)
		}
	}
}
