package api_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// A direct message's inbox rows name the message and carry no copy of its
// body: the body is stored once, in the message row.
func TestMessageNewInboxRowsReferenceTheMessage(t *testing.T) {
	session, _ := keyspace(t)
	e := newEnvOn(t, session)
	a, b := e.newUser("ra"), e.newUser("rb")
	conv := a.direct(b)
	_, cursor := b.syncAll("")
	body := strings.Repeat("referenced ", 90)
	watch := b.dial()
	m := a.mustSend(conv, body)
	msgID := mustID(t, m["id"].(string))
	for _, u := range []*client{a, b} {
		if kind, rowMsg, payload := inboxRow(t, session, mustID(t, u.userID), msgID); kind != repo.EventMessageNew || rowMsg != msgID || payload != nil {
			t.Fatalf("user %s's inbox row: kind %q msg %d payload %v, want a message.new reference without payload", u.userID, kind, rowMsg, payload)
		}
	}
	// The push still carries the message (built from it in memory).
	if f := watch.next("message.new"); !strings.Contains(string(f.Data), "referenced referenced") {
		t.Fatalf("the push lacks the body: %s", f.Data)
	}
	events, _ := b.syncAll(cursor)
	if len(events) == 0 || events[0]["data"].(map[string]any)["body"] != body {
		t.Fatalf("sync did not fill the body from the message row: %v", events)
	}
}

// One page mixes references with rows written by versions that copied the
// message into the inbox; recalled content is withdrawn from both, and a
// reference whose message row was never written (a send that failed after the
// inbox rows) is left out.
func TestSyncMixesReferencesAndPayloadRows(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ma"), e.newUser("mb")
	conv := a.direct(b)
	convID, aID := mustID(t, conv), mustID(t, a.userID)
	members := []int64{aID, mustID(t, b.userID)}
	_, cursor := b.syncAll("")
	ctx := context.Background()
	gen := idGen(t)
	// legacy writes a message the way older versions did: the row, and inbox
	// rows with the message as payload.
	legacy := func(body string) int64 {
		msg := repo.Message{ID: gen.Next(), ConvID: convID, SenderID: aID, Body: body, Media: "[]"}
		msg.ClientMsgID = "legacy-" + strconv.FormatInt(msg.ID, 10)
		msg.CreatedAt = snowflake.Time(msg.ID)
		if err := e.store.PutMessage(ctx, msg); err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"id": strconv.FormatInt(msg.ID, 10), "conversation_id": conv,
			"sender_id": a.userID, "client_msg_id": msg.ClientMsgID, "body": body, "media": []any{},
			"created_at": msg.CreatedAt.UTC(), "recalled": false})
		ev := repo.Event{ID: gen.Next(), Kind: repo.EventMessageNew, ConvID: convID, MsgID: msg.ID, Payload: string(payload)}
		if err := e.store.AppendEvent(ctx, members, ev); err != nil {
			t.Fatal(err)
		}
		return msg.ID
	}
	kept := legacy("legacy kept")
	fresh := a.mustSend(conv, "fresh reference")["id"].(string)
	withdrawn := legacy("legacy secret")
	expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+strconv.FormatInt(withdrawn, 10), nil), 204)
	// The inbox rows of a send whose message row never landed.
	dangling := gen.Next()
	if err := e.store.AppendEvent(ctx, members, repo.Event{ID: dangling, Kind: repo.EventMessageNew, ConvID: convID, MsgID: dangling}); err != nil {
		t.Fatal(err)
	}
	recalled := a.mustSend(conv, "reference secret")["id"].(string)
	expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+recalled, nil), 204)
	last := a.mustSend(conv, "last reference")["id"].(string)

	want := []string{strconv.FormatInt(kept, 10), fresh, strconv.FormatInt(withdrawn, 10), recalled, last}
	got := map[string]string{} // message id -> body of its message.new
	b.syncUntil(cursor, "message.new events in order "+strings.Join(want, ","), func(events []map[string]any) bool {
		clear(got)
		var order []string
		for _, ev := range events {
			data := toJSON(ev["data"])
			if strings.Contains(data, "secret") {
				t.Fatalf("sync returned recalled content: %s", data)
			}
			if ev["type"] != "message.new" {
				continue
			}
			d := ev["data"].(map[string]any)
			id := d["id"].(string)
			if id == strconv.FormatInt(dangling, 10) {
				t.Fatalf("sync returned the reference of a message that does not exist: %v", ev)
			}
			if _, ok := got[id]; !ok {
				order = append(order, id)
			}
			got[id] = d["body"].(string)
			if d["recalled"] == true && d["body"] != "" {
				t.Fatalf("a recalled message with a body: %v", ev)
			}
		}
		return strings.Join(order, ",") == strings.Join(want, ",")
	})
	if got[want[0]] != "legacy kept" || got[fresh] != "fresh reference" || got[last] != "last reference" ||
		got[want[2]] != "" || got[recalled] != "" {
		t.Fatalf("bodies: %v", got)
	}
}
