package chat

import (
	"testing"

	"github.com/ringchat/ringchat/repo"
)

func TestMentioned(t *testing.T) {
	for body, want := range map[string]bool{
		"hi @bob": true, "@Bob, look": true, "(@bob)": true, "@bob.": true,
		"hi @bobby": false, "mail bob@bob.com": false, "x@bob": false, "@bo": false, "": false,
		"@bobby and then @bob": true, "@BOB": true,
	} {
		if _, got := newBucketCache(nil).mentioner([]repo.Message{{Body: body}}, "bob"); got != want {
			t.Errorf("%q: %v, want %v", body, got, want)
		}
	}
	for _, body := range []string{"@bo\u212a", "@bob@example.com", "jos\u00e9@bob", "@b\u0130b"} {
		if _, got := newBucketCache(nil).mentioner([]repo.Message{{Body: body}}, "bob"); got {
			t.Errorf("%q mentions bob", body)
		}
	}
	if _, got := newBucketCache(nil).mentioner([]repo.Message{{Body: "@bob..."}}, "bob"); !got {
		t.Error("@bob... does not mention bob")
	}
	if _, got := newBucketCache(nil).mentioner([]repo.Message{{Body: "@"}}, ""); got {
		t.Error("an empty handle is mentioned")
	}
}
