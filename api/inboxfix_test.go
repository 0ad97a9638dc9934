package api_test

import (
	"strings"
	"testing"
)

// A member removed from a group reads nothing written after their removal
// (guarantee 4), not even through an inbox row of a message sent while they
// were a member: an edit's announce rewrites only current members' rows, so a
// group's message.new rows carry the message as sent, not a reference that
// sync would render from the message row as it is now.
func TestRemovedMemberDoesNotReadEditAfterRemoval(t *testing.T) {
	e := newEnv(t)
	owner, m := e.newUser("bo"), e.newUser("bm")
	conv := owner.group("g", m)
	_, cursor := m.syncAll("") // m's device, offline from here
	msg := owner.mustSend(conv, "original body")["id"].(string)
	expect(t, owner.do("DELETE", "/v1/conversations/"+conv+"/members/"+m.userID, nil), 204)
	expect(t, owner.do("PATCH", "/v1/conversations/"+conv+"/messages/"+msg, map[string]any{"body": "SECRET written after removal"}), 200)
	events, _ := m.syncAll(cursor)
	sawOriginal := false
	for _, ev := range events {
		data := toJSON(ev["data"])
		if strings.Contains(data, "SECRET") {
			t.Fatalf("removed member's sync carries an edit made after removal: %s %s", ev["type"], data)
		}
		sawOriginal = sawOriginal || strings.Contains(data, "original body")
	}
	if !sawOriginal {
		t.Fatalf("removed member's sync lacks the message sent while they were a member: %v", events)
	}
}
