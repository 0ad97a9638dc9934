package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// framesUntilPong sends a ping and returns every frame that arrives before its
// pong. The hub queues a socket's frames in order, so anything delivered to
// this socket before the ping was written shows up here.
func (w *wsConn) framesUntilPong() []frame {
	w.t.Helper()
	w.write("ping", "fence", nil)
	w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var seen []frame
	for {
		var f frame
		if err := w.conn.ReadJSON(&f); err != nil {
			w.t.Fatalf("waiting for pong: %v", err)
		}
		if f.Type == "pong" && f.Ref == "fence" {
			return seen
		}
		seen = append(seen, f)
	}
}

// Defect 8: in a direct conversation, typing and edits of a blocked user never
// reach the blocker.
func TestBlockedUsersTypingAndEditsDoNotReachTheBlocker(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.TypingEvery = time.Millisecond })
	blocker, blocked := e.newUser("tbk"), e.newUser("tbd")
	dm := blocked.direct(blocker)
	m := blocked.mustSend(dm, "before the block")["id"].(string)
	expect(t, blocker.do("PUT", "/v1/blocks/"+blocked.userID, nil), 204)
	_, cursor := blocker.syncAll("")
	watch := blocker.dial()
	typist := blocked.dial()

	typist.write("typing", "t1", map[string]any{"conversation_id": dm})
	for _, f := range typist.framesUntilPong() {
		if f.Ref == "t1" {
			t.Fatalf("typing to a blocker is dropped silently, as relayed typing is: %+v", f)
		}
	}
	expect(t, blocked.do("PATCH", "/v1/conversations/"+dm+"/messages/"+m, map[string]any{"body": "after the block"}), 403, "permission_denied")
	for _, f := range watch.framesUntilPong() {
		if f.Type == "typing" || f.Type == "message.edited" {
			t.Fatalf("the blocker got %s: %s", f.Type, f.Data)
		}
	}
	events, _ := blocker.syncSettled(cursor)
	for _, ev := range events {
		if ev["type"] == "message.edited" || strings.Contains(toJSON(ev["data"]), "after the block") {
			t.Fatalf("sync gave the blocker %v", ev)
		}
	}
	// The blocker still types and edits; unblocked, the other side does too.
	expect(t, blocker.do("DELETE", "/v1/blocks/"+blocked.userID, nil), 204)
	typist.write("typing", "t2", map[string]any{"conversation_id": dm})
	if f := watch.next("typing"); !strings.Contains(string(f.Data), blocked.userID) {
		t.Fatalf("typing after unblock: %s", f.Data)
	}
	expect(t, blocked.do("PATCH", "/v1/conversations/"+dm+"/messages/"+m, map[string]any{"body": "unblocked"}), 200)
}

type presenceJSON struct {
	UserID   string     `json:"user_id"`
	Online   bool       `json:"online"`
	LastSeen *time.Time `json:"last_seen"`
}

func (c *client) presenceOf(subject *client) presenceJSON {
	c.t.Helper()
	r := c.do("GET", "/v1/presence?user_ids="+subject.userID, nil)
	expect(c.t, r, 200)
	var out struct{ Presence []presenceJSON }
	if err := json.Unmarshal(r.raw, &out); err != nil || len(out.Presence) != 1 || out.Presence[0].UserID != subject.userID {
		c.t.Fatalf("presence: %s (%v)", r.raw, err)
	}
	return out.Presence[0]
}

// Defect 8: one rule for who sees whose presence, over REST and the socket:
// the user, their accepted contacts and their direct-conversation partners,
// never a user they block; a stranger or a member of a shared group sees
// nothing (offline, never seen).
func TestPresenceIsVisibleOnlyToContactsAndPartners(t *testing.T) {
	e := newEnv(t)
	subject := e.newUser("ps")
	contact, partner, stranger, groupmate, blockedPartner := e.newUser("pc"), e.newUser("pp"), e.newUser("px"), e.newUser("pg"), e.newUser("pb")
	expect(t, contact.do("PUT", "/v1/contacts/"+subject.userID, nil), 200)
	expect(t, subject.do("PUT", "/v1/contacts/"+contact.userID, nil), 200)
	partner.direct(subject)
	blockedPartner.direct(subject)
	subject.group("shared", groupmate)
	expect(t, subject.do("PUT", "/v1/blocks/"+blockedPartner.userID, nil), 204)

	sees := []*client{contact, partner}
	blind := []*client{stranger, groupmate, blockedPartner}
	sockets := map[*client]*wsConn{}
	for _, c := range append(append([]*client{}, sees...), blind...) {
		sockets[c] = c.dial()
	}
	subjectSocket := subject.dial() // online: a presence event to the audience
	for _, c := range sees {
		f := sockets[c].next("presence")
		if !strings.Contains(string(f.Data), subject.userID) || !strings.Contains(string(f.Data), `"online":true`) {
			t.Fatalf("%s: presence event %s", c.handle, f.Data)
		}
		if p := c.presenceOf(subject); !p.Online {
			t.Fatalf("%s cannot see an online contact or partner: %+v", c.handle, p)
		}
	}
	for _, c := range blind {
		for _, f := range sockets[c].framesUntilPong() {
			if f.Type == "presence" && strings.Contains(string(f.Data), subject.userID) {
				t.Fatalf("%s got the subject's presence event: %s", c.handle, f.Data)
			}
		}
		if p := c.presenceOf(subject); p.Online || p.LastSeen != nil {
			t.Fatalf("%s sees the subject's presence over REST: %+v", c.handle, p)
		}
	}
	if p := subject.presenceOf(subject); !p.Online {
		t.Fatalf("my own presence: %+v", p)
	}

	// Offline: last-seen goes only to those who see presence.
	subjectSocket.conn.Close()
	deadline := time.Now().Add(15 * time.Second)
	for p := contact.presenceOf(subject); p.Online || p.LastSeen == nil; p = contact.presenceOf(subject) {
		if time.Now().After(deadline) {
			t.Fatalf("the contact never saw the subject go offline: %+v", p)
		}
		time.Sleep(50 * time.Millisecond) // polling for the disconnect to be recorded
	}
	for _, c := range blind {
		if p := c.presenceOf(subject); p.Online || p.LastSeen != nil {
			t.Fatalf("%s sees the subject's last-seen: %+v", c.handle, p)
		}
	}
}
