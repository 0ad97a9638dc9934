package chat

import (
	"testing"

	"github.com/ringchat/ringchat/repo"
)

func TestMentioned(t *testing.T) {
	for body, want := range map[string]bool{
		"hi @bob": true, "@Bob, look": true, "(@bob)": true, "@bob.": true,
		"hi @bobby": false, "mail bob@bob.com": false, "x@bob": false, "@bo": false, "": false,
		"@bobby and then @bob": true,
	} {
		if got := mentioned([]repo.Message{{Body: body}}, "bob"); got != want {
			t.Errorf("%q: %v, want %v", body, got, want)
		}
	}
	if mentioned([]repo.Message{{Body: "@"}}, "") {
		t.Error("an empty handle is mentioned")
	}
}
