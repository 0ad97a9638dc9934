package api_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

func TestDirectConversationIsOnePerPair(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("da"), e.newUser("db")
	// Both users create it at the same moment, several times each.
	const n = 6
	ids := make(chan string, n)
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me, other := a, b
			if i%2 == 1 {
				me, other = b, a
			}
			r := me.do("POST", "/v1/conversations", map[string]any{"kind": "direct", "member_ids": []string{other.userID}})
			statuses <- r.status
			if r.status == 200 || r.status == 201 {
				ids <- r.body["conversation"].(map[string]any)["id"].(string)
			}
		}()
	}
	wg.Wait()
	close(ids)
	close(statuses)
	first := ""
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first {
			t.Fatalf("two conversations for one pair: %s and %s", first, id)
		}
	}
	created := 0
	for s := range statuses {
		if s == 201 {
			created++
		} else if s != 200 {
			t.Fatalf("status %d", s)
		}
	}
	if created != 1 {
		t.Fatalf("%d callers were told they created it; want 1", created)
	}
	r := a.do("GET", "/v1/conversations/"+first, nil)
	expect(t, r, 200)
	conv := r.body["conversation"].(map[string]any)
	if conv["kind"] != "direct" || conv["member_count"] != float64(2) || conv["my_role"] != "member" {
		t.Fatalf("conversation: %s", r.raw)
	}
	t.Run("with self or unknown user", func(t *testing.T) {
		expect(t, a.do("POST", "/v1/conversations", map[string]any{"kind": "direct", "member_ids": []string{a.userID}}), 400, "invalid_argument")
		expect(t, a.do("POST", "/v1/conversations", map[string]any{"kind": "direct", "member_ids": []string{"77"}}), 404, "not_found")
		expect(t, a.do("POST", "/v1/conversations", map[string]any{"kind": "chaos", "member_ids": []string{b.userID}}), 400, "invalid_argument")
	})
}

// After a direct conversation's first send its members come from the node's
// cache: an outsider must still be refused, and a block must still bite at once.
func TestDirectSendsAfterTheFirstStillCheckMembershipAndBlocks(t *testing.T) {
	e := newEnv(t)
	a, b, outsider := e.newUser("da"), e.newUser("db"), e.newUser("do")
	dm := a.direct(b)
	a.mustSend(dm, "fills the cache")
	b.mustSend(dm, "from the other member")
	expect(t, outsider.send(dm, "out-1", "let me in"), 403, "permission_denied")
	expect(t, b.do("PUT", "/v1/blocks/"+a.userID, nil), 204)
	expect(t, a.send(dm, "blocked-1", "still there?"), 403, "permission_denied")
	expect(t, b.do("DELETE", "/v1/blocks/"+a.userID, nil), 204)
	a.mustSend(dm, "unblocked")
	expect(t, a.send("12345", "nowhere-1", "hello"), 404, "not_found")
}

func TestSendIsIdempotent(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ia"), e.newUser("ib")
	conv := a.direct(b)
	first := a.send(conv, "retry-1", "hello")
	expect(t, first, 201)
	again := a.send(conv, "retry-1", "hello")
	expect(t, again, 200)
	if id1, id2 := first.body["message"].(map[string]any)["id"], again.body["message"].(map[string]any)["id"]; id1 != id2 {
		t.Fatalf("retry made a second message: %v vs %v", id1, id2)
	}

	t.Run("concurrent retries", func(t *testing.T) {
		const n = 10
		var wg sync.WaitGroup
		out := make(chan resp, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); out <- a.send(conv, "burst-1", "once") }()
		}
		wg.Wait()
		close(out)
		created, ids := 0, map[any]bool{}
		for r := range out {
			if r.status == 201 {
				created++
			} else if r.status != 200 {
				t.Fatalf("status %d %s", r.status, r.raw)
			}
			ids[r.body["message"].(map[string]any)["id"]] = true
		}
		if created != 1 || len(ids) != 1 {
			t.Fatalf("created %d, distinct ids %d; want 1 and 1", created, len(ids))
		}
		h := b.do("GET", "/v1/conversations/"+conv+"/messages?limit=100", nil)
		expect(t, h, 200)
		count := 0
		for _, m := range h.body["messages"].([]any) {
			if m.(map[string]any)["client_msg_id"] == "burst-1" {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("history holds %d copies of one send", count)
		}
	})
	t.Run("same client id in another conversation", func(t *testing.T) {
		c := e.newUser("ic")
		other := a.direct(c)
		expect(t, a.send(other, "retry-1", "hello"), 409, "conflict")
	})
}

func TestHistoryPagesAcrossBuckets(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ha"), e.newUser("hb")
	conv := a.direct(b)
	// Buckets are 300 ms here: 24 sends 60 ms apart span about five of them.
	var sent []string
	for i := 0; i < 24; i++ {
		sender := a
		if i%3 == 0 {
			sender = b
		}
		sent = append(sent, sender.mustSend(conv, fmt.Sprintf("m%02d", i))["id"].(string))
		time.Sleep(60 * time.Millisecond)
	}
	t.Run("newest first", func(t *testing.T) {
		var got []string
		q := "limit=5"
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("history did not end")
			}
			r := a.do("GET", "/v1/conversations/"+conv+"/messages?"+q, nil)
			expect(t, r, 200)
			for _, m := range r.body["messages"].([]any) {
				got = append(got, m.(map[string]any)["id"].(string))
			}
			next, _ := r.body["next_cursor"].(string)
			if next == "" {
				break
			}
			q = "limit=5&cursor=" + url.QueryEscape(next)
		}
		if len(got) != len(sent) {
			t.Fatalf("got %d messages, sent %d", len(got), len(sent))
		}
		for i := range sent {
			if got[i] != sent[len(sent)-1-i] {
				t.Fatalf("position %d: got %s want %s", i, got[i], sent[len(sent)-1-i])
			}
		}
	})
	t.Run("oldest first after an id", func(t *testing.T) {
		var got []string
		q := "limit=4&after=" + sent[3]
		for pages := 0; pages < 20; pages++ {
			r := b.do("GET", "/v1/conversations/"+conv+"/messages?"+q, nil)
			expect(t, r, 200)
			for _, m := range r.body["messages"].([]any) {
				got = append(got, m.(map[string]any)["id"].(string))
			}
			next, _ := r.body["next_cursor"].(string)
			if next == "" {
				break
			}
			q = "limit=4&cursor=" + url.QueryEscape(next)
		}
		if strings.Join(got, ",") != strings.Join(sent[4:], ",") {
			t.Fatalf("after paging:\n got %v\nwant %v", got, sent[4:])
		}
	})
	t.Run("before an id", func(t *testing.T) {
		r := a.do("GET", "/v1/conversations/"+conv+"/messages?limit=3&before="+sent[10], nil)
		expect(t, r, 200)
		ms := r.body["messages"].([]any)
		if len(ms) != 3 || ms[0].(map[string]any)["id"] != sent[9] || ms[2].(map[string]any)["id"] != sent[7] {
			t.Fatalf("before: %s", r.raw)
		}
	})
	t.Run("bad paging input", func(t *testing.T) {
		base := "/v1/conversations/" + conv + "/messages?"
		expect(t, a.do("GET", base+"limit=0", nil), 400, "invalid_argument")
		expect(t, a.do("GET", base+"limit=101", nil), 400, "invalid_argument")
		expect(t, a.do("GET", base+"cursor=%21%21", nil), 400, "invalid_argument")
		expect(t, a.do("GET", base+"before=1&after=2", nil), 400, "invalid_argument")
	})
}

// syncSettled is syncAll from cursor once its safe point has passed every
// event written before the call: it polls until the cursor sync returns
// stands at or past that moment (it never passes the safe point), so the
// events hold everything written so far, however long the env's sync lag.
func (c *client) syncSettled(cursor string) ([]map[string]any, string) {
	c.t.Helper()
	written := snowflake.MinIDAt(time.Now())
	deadline := time.Now().Add(30 * time.Second)
	for {
		events, next := c.syncAll(cursor)
		if syncPosition(c.t, next) >= written {
			return events, next
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("sync's cursor never passed %d within 30 s", written)
		}
		time.Sleep(50 * time.Millisecond) // polling: the safe point trails now by the sync lag
	}
}

// syncPosition is the position a sync cursor between rounds stands at
// ("sync:<id>", base64).
func syncPosition(t testing.TB, cursor string) int64 {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 2 || parts[0] != "sync" {
		return 0 // inside a round: not settled
	}
	return mustID(t, parts[1])
}

// syncAll follows sync from cursor until has_more is false; returns events and the last cursor.
func (c *client) syncAll(cursor string) ([]map[string]any, string) {
	c.t.Helper()
	var events []map[string]any
	for i := 0; i < 1000; i++ {
		q := "/v1/sync?limit=7"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := c.do("GET", q, nil)
		expect(c.t, r, 200)
		for _, ev := range r.body["events"].([]any) {
			events = append(events, ev.(map[string]any))
		}
		cursor = r.body["cursor"].(string)
		if r.body["has_more"] != true {
			return events, cursor
		}
	}
	c.t.Fatal("sync never ended")
	return nil, ""
}

func TestSyncFromCursor(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("sa"), e.newUser("sb")
	conv := a.direct(b)
	_, cursor := b.syncAll("") // a device that has seen everything so far
	var sent []string
	for i := 0; i < 20; i++ {
		sent = append(sent, a.mustSend(conv, fmt.Sprintf("s%d", i))["id"].(string))
	}
	// Right away, the fresh events come too (above the safe point, at most one page of them).
	fresh, _ := b.syncAll(cursor)
	if len(fresh) == 0 {
		t.Fatal("a sync right after the sends returned nothing")
	}
	events, _ := b.syncSettled(cursor) // all below the safe point
	seen := map[string]bool{}
	var order []string
	for _, ev := range events {
		if ev["type"] != "message.new" || ev["conversation_id"] != conv {
			t.Fatalf("unexpected event %v", ev)
		}
		id := ev["data"].(map[string]any)["id"].(string)
		if !seen[id] { // repeats near the head are allowed; the client drops them by id
			seen[id] = true
			order = append(order, id)
		}
	}
	if strings.Join(order, ",") != strings.Join(sent, ",") {
		t.Fatalf("sync order:\n got %v\nwant %v", order, sent)
	}
	expect(t, b.do("GET", "/v1/sync?cursor=bm9wZQ", nil), 400, "invalid_argument")
}

func TestBadMessageInput(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ba"), e.newUser("bb")
	outsider := e.newUser("bo")
	conv := a.direct(b)
	path := "/v1/conversations/" + conv + "/messages"
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", `{"client_msg_id": "x", "body": `, 400, "invalid_argument"},
		{"empty request", ``, 400, "invalid_argument"},
		{"empty body", map[string]any{"client_msg_id": "e1", "body": "   "}, 400, "invalid_argument"},
		{"no client id", map[string]any{"body": "hi"}, 400, "invalid_argument"},
		{"too many bytes", map[string]any{"client_msg_id": "e2", "body": strings.Repeat("é", 2100)}, 413, "too_large"},
		{"too many characters", map[string]any{"client_msg_id": "e3", "body": strings.Repeat("a", 1001)}, 400, "invalid_argument"},
		{"invalid UTF-8", []byte("{\"client_msg_id\":\"e4\",\"body\":\"bad \xff\xfe\"}"), 400, "invalid_argument"},
		{"trailing data", `{"client_msg_id":"e5","body":"x"} {}`, 400, "invalid_argument"},
		{"huge request", map[string]any{"client_msg_id": "e6", "body": strings.Repeat("a", 70_000)}, 413, "too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, a.do("POST", path, tc.body), tc.status, tc.code)
		})
	}
	t.Run("exactly at the limits", func(t *testing.T) {
		expect(t, a.send(conv, "ok-1000", strings.Repeat("a", 1000)), 201)
	})
	t.Run("unknown conversation", func(t *testing.T) {
		expect(t, a.send("12345", "u1", "hi"), 404, "not_found")
		expect(t, a.do("GET", "/v1/conversations/12345/messages", nil), 404, "not_found")
		expect(t, a.send("abc", "u1", "hi"), 400, "invalid_argument")
	})
	t.Run("non-member", func(t *testing.T) {
		expect(t, outsider.send(conv, "n1", "let me in"), 403, "permission_denied")
		expect(t, outsider.do("GET", "/v1/conversations/"+conv+"/messages", nil), 403, "permission_denied")
		expect(t, outsider.do("GET", "/v1/conversations/"+conv, nil), 403, "permission_denied")
	})
	t.Run("no token", func(t *testing.T) {
		expect(t, e.do("POST", path, "", map[string]any{"client_msg_id": "t1", "body": "hi"}), 401, "unauthenticated")
	})
	t.Run("nothing refused was stored", func(t *testing.T) {
		r := b.do("GET", path+"?limit=100", nil)
		expect(t, r, 200)
		ms := r.body["messages"].([]any)
		if len(ms) != 1 || ms[0].(map[string]any)["client_msg_id"] != "ok-1000" {
			t.Fatalf("history should hold only the accepted message: %s", r.raw)
		}
	})
}

func TestSendRateLimit(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.SendRate, c.SendBurst = 2, 3 })
	a, b := e.newUser("rla"), e.newUser("rlb")
	conv := a.direct(b)
	limited := 0
	for i := 0; i < 6; i++ {
		r := a.send(conv, fmt.Sprintf("rl-%d", i), "fast")
		if r.status == 429 {
			expect(t, r, 429, "rate_limited")
			if r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 6 rapid sends limited with a burst of 3", limited)
	}
	// Another user is not affected; after a pause the first sends again.
	expect(t, b.send(conv, "rl-b", "me too"), 201)
	time.Sleep(600 * time.Millisecond)
	expect(t, a.send(conv, "rl-later", "calm now"), 201)
}
