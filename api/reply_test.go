package api_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Defect 10: reply_to must name a message of the same conversation that is not recalled.
func TestReplyToMustNameAMessageOfTheConversation(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.newUser("ra"), e.newUser("rb"), e.newUser("rc")
	conv, other := a.direct(b), a.direct(c)
	target := a.mustSend(conv, "question")["id"].(string)
	elsewhere := a.mustSend(other, "elsewhere")["id"].(string)
	recalled := a.mustSend(conv, "oops")["id"].(string)
	expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+recalled, nil), 204)

	reply := func(replyTo string) resp {
		return b.do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{
			"client_msg_id": fmt.Sprintf("r-%x", rand.Uint64()), "body": "answer", "reply_to": replyTo})
	}
	r := reply(target)
	expect(t, r, 201)
	if r.body["message"].(map[string]any)["reply_to"] != target {
		t.Fatalf("reply: %s", r.raw)
	}
	for name, id := range map[string]string{"another conversation's message": elsewhere,
		"a message that does not exist": "123456789012345", "a recalled message": recalled, "the conversation itself": conv} {
		r := reply(id)
		expect(t, r, 400, "invalid_argument")
		if !strings.Contains(string(r.raw), "reply_to") {
			t.Fatalf("%s: the error does not name reply_to: %s", name, r.raw)
		}
	}
	// Over the socket too (the same send path).
	ws := b.dial()
	ws.write("message.send", "s1", map[string]any{"conversation_id": conv, "client_msg_id": "ws-r1", "body": "x", "reply_to": elsewhere})
	if f := ws.next("error"); f.Ref != "s1" || !strings.Contains(string(f.Data), "invalid_argument") {
		t.Fatalf("socket reply to another conversation's message: %+v", f)
	}
	// A refused send does not burn its client_msg_id: fixed, the same id goes through.
	r = b.do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{"client_msg_id": "fix-me", "body": "x", "reply_to": elsewhere})
	expect(t, r, 400, "invalid_argument")
	r = b.do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{"client_msg_id": "fix-me", "body": "x", "reply_to": target})
	if r.status != 201 && r.status != 200 {
		t.Fatalf("corrected retry: %d %s", r.status, r.raw)
	}
}
