package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

func chatList(t *testing.T, c *client, query string) []map[string]any {
	t.Helper()
	r := c.do("GET", "/v1/conversations"+query, nil)
	expect(t, r, 200)
	var out []map[string]any
	for _, x := range r.body["conversations"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func convIDOf(chat map[string]any) string {
	return chat["conversation"].(map[string]any)["id"].(string)
}

func TestChatListOrderUnreadAndSettings(t *testing.T) {
	e := newEnv(t)
	me, x, y, z := e.newUser("la"), e.newUser("lx"), e.newUser("ly"), e.newUser("lz")
	cx, cy := me.direct(x), me.direct(y)
	cz := z.group("zed", me)
	x.mustSend(cx, "x1")
	y.mustSend(cy, "y1")
	last := z.mustSend(cz, "z1")
	z.mustSend(cz, "z2")
	list := chatList(t, me, "")
	if len(list) != 3 || convIDOf(list[0]) != cz || convIDOf(list[1]) != cy || convIDOf(list[2]) != cx {
		t.Fatalf("order by activity: %v", list)
	}
	if list[0]["unread_count"] != float64(2) || list[0]["last_message"].(map[string]any)["body"] != "z2" {
		t.Fatalf("unread/preview: %v", list[0])
	}

	// Reading on one device clears the count, and the other device is told.
	other := e.login(me.handle).dial()
	expect(t, me.do("POST", "/v1/conversations/"+cz+"/read", map[string]any{"up_to": last["id"]}), 204)
	if f := other.next("receipt"); !strings.Contains(string(f.Data), me.userID) {
		t.Fatalf("receipt to my other device: %s", f.Data)
	}
	if n := chatList(t, me, "")[0]["unread_count"]; n != float64(1) {
		t.Fatalf("unread after reading one of two: %v", n)
	}

	// Pin puts a conversation first; archive hides it from the main list.
	r := me.do("PUT", "/v1/conversations/"+cx+"/me", map[string]any{"pinned": true, "muted_until": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	expect(t, r, 200)
	if r.body["pinned"] != true || r.body["muted_until"] == nil {
		t.Fatalf("settings: %s", r.raw)
	}
	list = chatList(t, me, "")
	if convIDOf(list[0]) != cx || list[0]["pinned"] != true || list[0]["muted_until"] == nil {
		t.Fatalf("pinned first: %v", list[0])
	}
	expect(t, me.do("PUT", "/v1/conversations/"+cy+"/me", map[string]any{"archived": true}), 200)
	if l := chatList(t, me, ""); len(l) != 2 {
		t.Fatalf("archived still listed: %d", len(l))
	}
	if l := chatList(t, me, "?archived=true"); len(l) != 1 || convIDOf(l[0]) != cy {
		t.Fatalf("archive list: %v", l)
	}
	expect(t, me.do("PUT", "/v1/conversations/"+cx+"/me", map[string]any{"muted_until": nil}), 200)
	if chatList(t, me, "")[0]["muted_until"] != nil {
		t.Fatal("unmute did not clear muted_until")
	}
	expect(t, me.do("PUT", "/v1/conversations/"+cx+"/me", map[string]any{"pinned": "yes"}), 400, "invalid_argument")
	expect(t, e.newUser("lo").do("PUT", "/v1/conversations/"+cx+"/me", map[string]any{"pinned": true}), 403, "permission_denied")

	t.Run("paging", func(t *testing.T) {
		r := me.do("GET", "/v1/conversations?limit=1", nil)
		expect(t, r, 200)
		next := r.body["next_cursor"].(string)
		r2 := me.do("GET", "/v1/conversations?limit=1&cursor="+next, nil)
		expect(t, r2, 200)
		a := r.body["conversations"].([]any)[0].(map[string]any)
		b := r2.body["conversations"].([]any)[0].(map[string]any)
		if convIDOf(a) == convIDOf(b) {
			t.Fatal("second page repeats the first")
		}
	})
}

func TestUnreadCountIsCapped(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ua"), e.newUser("ub")
	conv := a.direct(b)
	for i := 0; i < repo.UnreadCap+5; i++ {
		a.mustSend(conv, "spam")
	}
	chat := chatList(t, b, "")[0]
	if chat["unread_count"] != float64(repo.UnreadCap) || chat["unread_capped"] != true {
		t.Fatalf("unread %v capped %v", chat["unread_count"], chat["unread_capped"])
	}
}

func TestReceipts(t *testing.T) {
	e := newEnv(t)
	s, r1, r2 := e.newUser("rs"), e.newUser("r1"), e.newUser("r2")
	g := s.group("receipts", r1, r2)
	m := s.mustSend(g, "did you get this?")["id"].(string)
	sender := s.dial()
	w := r1.dial()
	w.write("delivered", "d1", map[string]any{"conversation_id": g, "up_to": m})
	if f := w.next("ack"); f.Ref != "d1" {
		t.Fatalf("ack %+v", f)
	}
	if f := sender.next("receipt"); !strings.Contains(string(f.Data), `"delivered_up_to":"`+m) {
		t.Fatalf("receipt to the sender: %s", f.Data)
	}
	w.write("read", "r1", map[string]any{"conversation_id": g, "up_to": m})
	w.next("ack")
	expect(t, r2.do("POST", "/v1/conversations/"+g+"/read", map[string]any{"up_to": m}), 204)
	r := s.do("GET", "/v1/conversations/"+g+"/messages/"+m+"/receipts", nil)
	expect(t, r, 200)
	if r.body["delivered_count"] != float64(2) || r.body["read_count"] != float64(2) || len(r.body["read"].([]any)) != 2 {
		t.Fatalf("receipts: %s", r.raw)
	}
	// A watermark never moves back.
	older := s.mustSend(g, "older")["id"].(string)
	newer := s.mustSend(g, "newer")["id"].(string)
	expect(t, r1.do("POST", "/v1/conversations/"+g+"/read", map[string]any{"up_to": newer}), 204)
	expect(t, r1.do("POST", "/v1/conversations/"+g+"/read", map[string]any{"up_to": older}), 204)
	r = s.do("GET", "/v1/conversations/"+g+"/messages/"+newer+"/receipts", nil)
	if !strings.Contains(string(r.raw), r1.userID) {
		t.Fatalf("read watermark moved back: %s", r.raw)
	}
	expect(t, r1.do("POST", "/v1/conversations/"+g+"/read", map[string]any{"up_to": "nope"}), 400, "invalid_argument")
	expect(t, e.newUser("ro").do("POST", "/v1/conversations/"+g+"/read", map[string]any{"up_to": m}), 403, "permission_denied")
}

func TestTyping(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.TypingEvery = time.Second })
	a, b := e.newUser("ta"), e.newUser("tb")
	conv := a.direct(b)
	_, cursor := b.syncAll("")
	sa, sb := a.dial(), b.dial()
	sa.write("typing", "t1", map[string]any{"conversation_id": conv})
	if f := sb.next("typing"); !strings.Contains(string(f.Data), a.userID) {
		t.Fatalf("typing: %s", f.Data)
	}
	sa.write("typing", "t2", map[string]any{"conversation_id": conv}) // too soon
	if f := sa.next("error"); f.Ref != "t2" || !strings.Contains(string(f.Data), `"code":"rate_limited"`) ||
		!strings.Contains(string(f.Data), `"retry_after_ms":1000`) {
		t.Fatalf("second typing frame: %s (want rate_limited with retry_after_ms)", f.Data)
	}
	time.Sleep(1100 * time.Millisecond) // as a client honours retry_after_ms: the scenario
	sa.write("typing", "", map[string]any{"conversation_id": conv})
	sb.next("typing")
	outsider := e.newUser("tx").dial()
	outsider.write("typing", "t3", map[string]any{"conversation_id": conv})
	if f := outsider.next("error"); !strings.Contains(string(f.Data), "permission_denied") {
		t.Fatalf("outsider typing: %s", f.Data)
	}
	events, _ := b.syncSettled(cursor)
	for _, ev := range events {
		if ev["type"] == "typing" {
			t.Fatal("typing was stored")
		}
	}
}

func TestEditAndRecall(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.RecallWindow = 2 * time.Second })
	a, b := e.newUser("ea"), e.newUser("eb")
	conv := a.direct(b)
	_, cursor := b.syncAll("")
	m := a.mustSend(conv, "secret typo")["id"].(string)
	watch := b.dial()
	path := "/v1/conversations/" + conv + "/messages/" + m
	expect(t, b.do("PATCH", path, map[string]any{"body": "not mine"}), 403, "permission_denied")
	r := a.do("PATCH", path, map[string]any{"body": "fixed"})
	expect(t, r, 200)
	if r.body["message"].(map[string]any)["edited_at"] == nil {
		t.Fatalf("edit: %s", r.raw)
	}
	if f := watch.next("message.edited"); !strings.Contains(string(f.Data), "fixed") {
		t.Fatalf("edited event %s", f.Data)
	}
	expect(t, b.do("DELETE", path, nil), 403, "permission_denied")
	expect(t, a.do("DELETE", path, nil), 204)
	watch.next("message.recalled")
	h := b.do("GET", "/v1/conversations/"+conv+"/messages", nil)
	msg := h.body["messages"].([]any)[0].(map[string]any)
	if msg["recalled"] != true || msg["body"] != "" {
		t.Fatalf("history after recall: %v", msg)
	}
	expect(t, a.do("PATCH", path, map[string]any{"body": "again"}), 409, "conflict")
	// A device that syncs only now never sees the original body.
	events, _ := b.syncSettled(cursor)
	kinds := []string{}
	for _, ev := range events {
		kinds = append(kinds, ev["type"].(string))
		if data := ev["data"]; data != nil && strings.Contains(toJSON(data), "secret typo") {
			t.Fatalf("sync leaked the recalled body: %v", ev)
		}
	}
	if strings.Join(kinds, ",") != "message.new,message.edited,message.recalled" {
		t.Fatalf("sync events %v", kinds)
	}
	t.Run("recall window", func(t *testing.T) {
		old := a.mustSend(conv, "old")["id"].(string)
		for time.Since(snowflake.Time(mustID(t, old))) <= 2100*time.Millisecond { // until past the 2 s window
			time.Sleep(50 * time.Millisecond)
		}
		expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+old, nil), 403, "permission_denied")
	})
	t.Run("a group admin recalls anyone's message", func(t *testing.T) {
		owner, member := e.newUser("eo"), e.newUser("em")
		g := owner.group("mod", member)
		bad := member.mustSend(g, "spam")["id"].(string)
		expect(t, owner.do("DELETE", "/v1/conversations/"+g+"/messages/"+bad, nil), 204)
	})
}
