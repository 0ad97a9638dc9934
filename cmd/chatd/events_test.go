package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/notify/webhook/webhooktest"
)

// The operator's event webhook (docs/integrations.md): a real chatd node
// with no push kinds, the real Cassandra node, and an endpoint that checks
// the Standard Webhooks signature and replay window of every request.

type operatorEvent struct {
	Type string `json:"type"`
	Data struct {
		Message struct {
			ID             string `json:"id"`
			ConversationID string `json:"conversation_id"`
			SenderID       string `json:"sender_id"`
			Body           string `json:"body"`
		} `json:"message"`
		ConversationID string   `json:"conversation_id"`
		UserIDs        []string `json:"user_ids"`
		By             string   `json:"by"`
		ChangeID       string   `json:"change_id"`
	} `json:"data"`
}

type eventEndpoint struct {
	t   *testing.T
	srv *webhooktest.Server
}

// events decodes every delivery accepted so far, by webhook-id.
func (e eventEndpoint) events() map[string][]operatorEvent {
	out := map[string][]operatorEvent{}
	for _, d := range e.srv.Deliveries() {
		var ev operatorEvent
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			e.t.Fatalf("event %s: %v: %s", d.ID, err, d.Body)
		}
		out[d.ID] = append(out[d.ID], ev)
	}
	return out
}

// wait polls for the delivery whose webhook-id starts with prefix.
func (e eventEndpoint) wait(prefix string) (string, operatorEvent) {
	e.t.Helper()
	var id string
	var ev operatorEvent
	eventually(e.t, 40*time.Second, func() bool {
		for k, evs := range e.events() {
			if strings.HasPrefix(k, prefix) {
				id, ev = k, evs[0]
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("no event %s* (have %v, refused %v)", prefix, keys(e.events()), e.srv.Refused())
	})
	return id, ev
}

func injectedIDs(srv *webhooktest.Server) []string {
	var ids []string
	for _, a := range srv.InjectedAnswers() {
		ids = append(ids, a.ID)
	}
	return ids
}

func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestEventWebhook(t *testing.T) {
	secret := newSecret()
	srv := webhooktest.New()
	t.Cleanup(srv.Close)
	srv.Expect("/events", secret)
	ep := eventEndpoint{t: t, srv: srv}

	env := notifyEnv(t)
	delete(env, "RINGCHAT_PUSH_KINDS") // the events ride the outbox with push off
	env["RINGCHAT_EVENT_WEBHOOK_URL"] = srv.URL + "/events"
	env["RINGCHAT_EVENT_WEBHOOK_SECRET"] = secret
	node := testcluster.Start(t, env)
	db := openNotifyDB(t, env["RINGCHAT_KEYSPACE"])
	a := testcluster.Register(t, node, "eva")
	b := testcluster.Register(t, node, "evb")
	c := testcluster.Register(t, node, "evc")

	// After-send: one message.created per stored message, with the message
	// as history serves it. A retry of the send (same client_msg_id) is the
	// same message: no second event.
	dm := a.Direct(b)
	clientID := testcluster.UUIDv7(time.Now())
	st, first := a.Send(dm, clientID, "hello events")
	if st != 201 {
		t.Fatalf("send: %d", st)
	}
	id, ev := ep.wait("msg_" + first)
	if ev.Type != "message.created" || ev.Data.Message.ID != first || ev.Data.Message.Body != "hello events" ||
		ev.Data.Message.ConversationID != dm || ev.Data.Message.SenderID != a.UserID || id != "msg_"+first {
		t.Fatalf("message.created %s %+v", id, ev)
	}
	if st, again := a.Send(dm, clientID, "hello events"); st != 200 || again != first {
		t.Fatalf("retried send: %d %s, want 200 %s", st, again, first)
	}

	// A message recalled before its bucket is worked makes no event (its
	// body must not leave after the sender took it back).
	_, recalled := a.Send(dm, testcluster.UUIDv7(time.Now()), "take it back")
	if st, body := a.Do("DELETE", "/v1/conversations/"+dm+"/messages/"+recalled, nil); st != 200 && st != 204 {
		t.Fatalf("recall: %d %v", st, body)
	}
	// The endpoint failing is retried (same webhook-id), here after a 503
	// whose Retry-After is 1 s and a 500.
	srv.Inject(webhooktest.Answer{Status: 503, RetryAfter: "1"}, webhooktest.Answer{Status: 500})
	_, later := a.Send(dm, testcluster.UUIDv7(time.Now()), "after a failure")
	ep.wait("msg_" + later)
	db.waitWorked(dm, recalled)
	evs := ep.events()
	if len(evs["msg_"+recalled]) != 0 {
		t.Fatalf("a recalled message's body went out: %+v", evs["msg_"+recalled])
	}
	if len(evs["msg_"+first]) != 1 {
		t.Fatalf("message %s: %d events, want 1 (the retried send is the same message)", first, len(evs["msg_"+first]))
	}
	if inj := srv.InjectedAnswers(); len(inj) != 2 || inj[0].ID != "msg_"+later || inj[1].ID != "msg_"+later {
		t.Fatalf("refused deliveries %+v, want two of msg_%s (the one then accepted)", inj, later)
	}

	// Membership: a new group, an addition, a removal, and a member leaving.
	st, body := a.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "evgroup", "member_ids": []string{b.UserID}})
	if st != 201 {
		t.Fatalf("create group: %d %v", st, body)
	}
	group := body["conversation"].(map[string]any)["id"].(string)
	_, ev = ep.wait("add_")
	if ev.Type != "member.added" || ev.Data.ConversationID != group || ev.Data.By != a.UserID || !slices.Equal(ev.Data.UserIDs, []string{b.UserID}) {
		t.Fatalf("group creation's member.added %+v", ev)
	}
	if st, body := a.Do("PUT", "/v1/conversations/"+group+"/members/"+c.UserID, nil); st != 200 {
		t.Fatalf("add member: %d %v", st, body)
	}
	_, ev = waitChange(ep, "member.added", c.UserID)
	if ev.Data.By != a.UserID || ev.Data.ConversationID != group {
		t.Fatalf("member.added %+v", ev)
	}
	if st, body := a.Do("DELETE", "/v1/conversations/"+group+"/members/"+c.UserID, nil); st != 204 && st != 200 {
		t.Fatalf("remove member: %d %v", st, body)
	}
	if _, ev = waitChange(ep, "member.removed", c.UserID); ev.Data.By != a.UserID || ev.Data.ConversationID != group {
		t.Fatalf("member.removed %+v", ev)
	}
	if st, body := b.Do("DELETE", "/v1/conversations/"+group+"/members/"+b.UserID, nil); st != 204 && st != 200 {
		t.Fatalf("leave: %d %v", st, body)
	}
	if _, ev = waitChange(ep, "member.removed", b.UserID); ev.Data.By != b.UserID {
		t.Fatalf("leaving: member.removed %+v, want by the member", ev)
	}
	if refused := srv.Refused(); len(refused) != 0 {
		t.Fatalf("the endpoint refused requests: %v", refused)
	}
}

// waitChange polls for the membership event of typ about user.
func waitChange(ep eventEndpoint, typ, user string) (string, operatorEvent) {
	ep.t.Helper()
	var id string
	var ev operatorEvent
	eventually(ep.t, 40*time.Second, func() bool {
		for k, evs := range ep.events() {
			if evs[0].Type == typ && slices.Equal(evs[0].Data.UserIDs, []string{user}) && strings.HasSuffix(k, "_"+user) {
				id, ev = k, evs[0]
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("no %s event about %s (have %v)", typ, user, keys(ep.events())) })
	return id, ev
}

// A bot's webhook push target gets each message in full as a
// message.created event (not the coalesced notice a person's device gets),
// and its additions as member.added; a failed delivery is retried under the
// same webhook-id. People's notices are unchanged beside it.
func TestBotWebhookEvents(t *testing.T) {
	env := notifyEnv(t)
	env["RINGCHAT_ADMIN_TOKEN"] = adminToken
	// The operator's events too: pushes and events from the same rows.
	srv := webhooktest.New()
	t.Cleanup(srv.Close)
	secret := newSecret()
	srv.Expect("/events", secret)
	env["RINGCHAT_EVENT_WEBHOOK_URL"], env["RINGCHAT_EVENT_WEBHOOK_SECRET"] = srv.URL+"/events", secret
	node := testcluster.Start(t, env)
	db := openNotifyDB(t, env["RINGCHAT_KEYSPACE"])
	ep := eventEndpoint{t: t, srv: srv}
	bot := newBot(t, node, "hookbot", "messages:read", "messages:write")
	pushTo(t, bot, srv)
	person := testcluster.Register(t, node, "hooktalker")
	pushTo(t, person, srv)
	dm := person.Direct(bot)

	long := strings.Repeat("é", 300) // past a notice's 200-character preview
	alignToBucket()
	var sent []string
	for _, body := range []string{"one", "two", long} {
		st, id := person.Send(dm, testcluster.UUIDv7(time.Now()), body)
		if st != 201 {
			t.Fatalf("send: %d", st)
		}
		sent = append(sent, id)
	}
	for i, id := range sent {
		k, ev := ep.wait("msg_" + id + "_d")
		want := []string{"one", "two", long}[i]
		if ev.Type != "message.created" || ev.Data.Message.ID != id || ev.Data.Message.Body != want || ev.Data.Message.SenderID != person.UserID {
			t.Fatalf("bot event %s: %+v", k, ev)
		}
	}

	// A failure is retried with the same id; the bot's answer reaches the
	// person as a notice.
	botPath := "/u" + bot.UserID
	srv.Inject(webhooktest.Answer{Status: 500, Path: botPath})
	_, retried := person.Send(dm, testcluster.UUIDv7(time.Now()), "after a failure")
	if id, _ := ep.wait("msg_" + retried + "_d"); !slices.Contains(injectedIDs(srv), id) {
		t.Fatalf("the bot's %s was accepted, but not the one refused first (%+v)", id, srv.InjectedAnswers())
	}
	if st, _ := bot.Send(dm, "bot-answer", "noted"); st != 201 {
		t.Fatalf("bot send: %d", st)
	}
	got := waitDeliveries(t, srv, person.UserID, 1)
	if d := got[0].Payload; d.Type != "notification" || d.Data.Body != "noted" || d.Data.Title != "hookbot" {
		t.Fatalf("the person's notice of the bot's answer: %+v", d)
	}

	// Added to a group: a member.added event about the bot, to the bot
	// (its device in the id; refused once, then retried under that id) and
	// to the operator.
	srv.Inject(webhooktest.Answer{Status: 503, RetryAfter: "1", Path: botPath})
	st, body := person.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "withbot", "member_ids": []string{bot.UserID}})
	if st != 201 {
		t.Fatalf("create group: %d %v", st, body)
	}
	group := body["conversation"].(map[string]any)["id"].(string)
	for _, toBot := range []bool{true, false} {
		var id string
		var ev operatorEvent
		eventually(t, 40*time.Second, func() bool {
			for k, evs := range ep.events() {
				if strings.HasPrefix(k, "add_"+group) && strings.Contains(k, "_d") == toBot {
					id, ev = k, evs[0]
					return true
				}
			}
			return false
		}, func() string { return fmt.Sprintf("no member.added (to the bot: %v) in %v", toBot, keys(ep.events())) })
		if ev.Type != "member.added" || ev.Data.ConversationID != group || ev.Data.By != person.UserID || !slices.Equal(ev.Data.UserIDs, []string{bot.UserID}) {
			t.Fatalf("member.added %s %+v", id, ev)
		}
		if toBot && !slices.Contains(injectedIDs(srv), id) {
			t.Fatalf("the bot's %s was accepted, but not the one refused first (%+v)", id, srv.InjectedAnswers())
		}
	}
	// Removed: the operator's event, and no notice to anyone.
	notices := len(srv.Deliveries())
	if st, body := person.Do("DELETE", "/v1/conversations/"+group+"/members/"+bot.UserID, nil); st != 204 && st != 200 {
		t.Fatalf("remove the bot: %d %v", st, body)
	}
	if _, ev := waitChange(ep, "member.removed", bot.UserID); ev.Data.By != person.UserID {
		t.Fatalf("member.removed %+v", ev)
	}
	_, marker := person.Send(dm, testcluster.UUIDv7(time.Now()), "marker")
	ep.wait("msg_" + marker + "_d")
	db.waitWorked(dm, marker)
	for _, d := range srv.Deliveries()[notices:] {
		if d.Payload.Type == "notification" || strings.HasPrefix(d.ID, "rm_") && strings.Contains(d.ID, "_d") {
			t.Errorf("a removal made a notice: %s %s", d.ID, d.Body)
		}
	}
	// The operator saw every message once, the bot each of its own once.
	for k, evs := range ep.events() {
		if len(evs) != 1 && strings.HasPrefix(k, "msg_") {
			t.Errorf("event %s delivered %d times", k, len(evs))
		}
	}
	for _, id := range append(sent, retried, marker) {
		if len(ep.events()["msg_"+id]) != 1 {
			t.Errorf("the operator's message.created of %s: %d", id, len(ep.events()["msg_"+id]))
		}
	}
	if refused := srv.Refused(); len(refused) != 0 {
		t.Fatalf("the endpoint refused requests: %v", refused)
	}
}
