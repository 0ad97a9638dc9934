package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/internal/testcluster"
)

const adminToken = "an-admin-token-of-at-least-32-characters"

// newBot makes a bot through node's admin API.
func newBot(t *testing.T, node *testcluster.Node, handle string, scopes ...string) *testcluster.Client {
	t.Helper()
	st, body := testcluster.Call(t, "POST", node.URL+"/v1/admin/bots", adminToken, map[string]any{"handle": handle, "scopes": scopes})
	if st != 201 {
		t.Fatalf("make bot %s: %d %v", handle, st, body)
	}
	return &testcluster.Client{T: t, Base: node.URL, Token: body["token"].(string), UserID: body["user"].(map[string]any)["id"].(string)}
}

// A bot conversing, through two chatd nodes: a person opens a DM with it,
// the bot hears the message on its socket and answers over it, and the
// person hears the answer; the bot makes a group with the person (its
// conversations:write token) and posts there; it is rate-limited as users
// are; a revoked token closes its socket; the admin API is off on a node
// without --admin-token.
func TestBotConversing(t *testing.T) {
	env := clusterEnv(t)
	env["RINGCHAT_ADMIN_TOKEN"] = adminToken
	env["RINGCHAT_SEND_RATE"], env["RINGCHAT_SEND_BURST"] = "1", "5"
	nodes := []*testcluster.Node{testcluster.Start(t, env)}
	off := map[string]string{}
	for k, v := range env {
		if k != "RINGCHAT_ADMIN_TOKEN" {
			off[k] = v
		}
	}
	nodes = append(nodes, testcluster.Start(t, off))
	// Off, an admin path is an unknown path: 401 without a valid token, 404 with one.
	if st, _ := testcluster.Call(t, "POST", nodes[1].URL+"/v1/admin/bots", adminToken, map[string]any{"handle": "nobot", "scopes": []string{"messages:read"}}); st != 401 {
		t.Errorf("the admin API on a node without --admin-token, with the admin token: %d, want 401", st)
	}

	bot := newBot(t, nodes[0], "echobot", "messages:read", "messages:write").On(nodes[1])
	person := testcluster.Register(t, nodes[0], "talker")
	if st, _ := testcluster.Call(t, "GET", nodes[1].URL+"/v1/admin/bots?handle=echobot", person.Token, nil); st != 404 {
		t.Errorf("the admin API on a node without --admin-token, with a person's token: %d, want 404", st)
	}
	if st, body := person.Do("GET", "/v1/users/"+bot.UserID, nil); st != 200 || body["user"].(map[string]any)["bot"] != true {
		t.Errorf("the bot's profile: %d %v", st, body)
	}
	dm := person.Direct(bot)
	botSock, personSock := bot.Dial(), person.Dial()

	st, hello := person.Send(dm, "p-1", "hello bot")
	if st != 201 {
		t.Fatalf("person's send: %d", st)
	}
	botSock.WaitFor(10*time.Second, "the person's message on the bot's socket", func([]testcluster.Frame) bool { return botSock.MessageIDs()[hello] > 0 })
	if err := botSock.Send("message.send", "b-1", map[string]any{"conversation_id": dm, "client_msg_id": "b-1", "body": "echo: hello bot"}); err != nil {
		t.Fatal(err)
	}
	if f := botSock.Reply(10*time.Second, "b-1"); f.Type != "ack" {
		t.Fatalf("the bot's send answered %+v", f)
	}
	personSock.WaitFor(10*time.Second, "the bot's answer", func(fs []testcluster.Frame) bool {
		for _, f := range fs {
			if f.Type == "message.new" && strings.Contains(string(f.Data), "echo: hello bot") {
				return true
			}
		}
		return false
	})

	// Without conversations:write the bot cannot make a group; with it, it can.
	if st, _ := bot.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "bots", "member_ids": []string{person.UserID}}); st != 403 {
		t.Errorf("a group made without conversations:write: %d", st)
	}
	st, body := testcluster.Call(t, "POST", nodes[0].URL+"/v1/admin/bots/"+bot.UserID+"/tokens", adminToken,
		map[string]any{"scopes": []string{"messages:write", "conversations:write"}})
	if st != 201 {
		t.Fatalf("issue a token: %d %v", st, body)
	}
	organiser := &testcluster.Client{T: t, Base: nodes[1].URL, Token: body["token"].(string), UserID: bot.UserID}
	st, body = organiser.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "bots", "member_ids": []string{person.UserID}})
	if st != 201 {
		t.Fatalf("the bot's group: %d %v", st, body)
	}
	group := body["conversation"].(map[string]any)["id"].(string)
	if st, _ := organiser.Send(group, "g-1", "welcome"); st != 201 {
		t.Errorf("the bot's group post: %d", st)
	}

	// Rate-limited as a user: a burst of 5, then 429 (1 a second).
	refused := 0
	for i := 0; i < 8; i++ {
		if st, _ := organiser.Send(group, "burst-"+string(rune('a'+i)), "spam"); st == 429 {
			refused++
		}
	}
	if refused == 0 {
		t.Error("a bot sent 9 messages in a burst of 5 without a 429")
	}

	// Revoked: the socket closes and the token is dead, on the other node too.
	st, me := bot.Do("GET", "/v1/me/devices", nil)
	if st != 403 {
		t.Errorf("a bot listing devices (people only): %d %v", st, me)
	}
	st, body = testcluster.Call(t, "POST", nodes[0].URL+"/v1/admin/bots/"+bot.UserID+"/tokens", adminToken, map[string]any{"scopes": []string{"messages:read"}})
	if st != 201 {
		t.Fatalf("issue a token: %d", st)
	}
	spare := &testcluster.Client{T: t, Base: nodes[0].URL, Token: body["token"].(string), UserID: bot.UserID}
	spareSock := spare.Dial()
	if st, _ := testcluster.Call(t, "DELETE", nodes[0].URL+"/v1/admin/bots/"+bot.UserID+"/tokens/"+body["device_id"].(string), adminToken, nil); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	if err := spareSock.Closed(20 * time.Second); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Errorf("the revoked token's socket: %v, want closed 1008", err)
	}
	if st, _ := spare.On(nodes[1]).Do("GET", "/v1/me", nil); st != 401 {
		t.Errorf("the revoked token on the other node: %d", st)
	}
	if st, _ := bot.Do("GET", "/v1/me", nil); st != 200 {
		t.Errorf("the bot's first token after another was revoked: %d", st)
	}
}
