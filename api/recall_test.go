package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// Defect 7: after a recall no read path returns the message's content.

// syncLeaks syncs from cursor until the recalls of conversation conv have come
// (events above the safe point come a page at a time, and again), and fails
// the test when any event carries one of the texts. It returns the events,
// once each, in order.
func syncLeaks(t *testing.T, c *client, cursor, conv string, recalls int, texts ...string) []map[string]any {
	t.Helper()
	var events []map[string]any
	seen := map[string]bool{}
	for deadline := time.Now().Add(15 * time.Second); ; {
		page, next := c.syncAll(cursor)
		cursor = next
		recalled := 0
		for _, ev := range page {
			data := toJSON(ev["data"])
			for _, text := range texts {
				if strings.Contains(data, text) {
					t.Fatalf("sync returned recalled content %q in a %s event: %s", text, ev["type"], data)
				}
			}
			if id := ev["id"].(string); !seen[id] {
				seen[id] = true
				events = append(events, ev)
			}
		}
		for _, ev := range events {
			if ev["type"] == "message.recalled" && ev["conversation_id"] == conv {
				recalled++
			}
		}
		if recalled >= recalls {
			return events
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync never returned the recall: %v", events)
		}
		time.Sleep(100 * time.Millisecond) // polling: the cursor trails now by the sync lag
	}
}

func TestRecallWithdrawsEarlierEdits(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("wa"), e.newUser("wb")
	conv := a.direct(b)
	g := a.group("withdraw", b)
	for _, c := range []string{conv, g} {
		_, cursor := b.syncAll("")
		m := a.mustSend(c, "first draft")["id"].(string)
		path := "/v1/conversations/" + c + "/messages/" + m
		expect(t, a.do("PATCH", path, map[string]any{"body": "second draft"}), 200)
		expect(t, a.do("PATCH", path, map[string]any{"body": "third draft"}), 200)
		expect(t, a.do("DELETE", path, nil), 204)
		var events []map[string]any
		for _, ev := range syncLeaks(t, b, cursor, c, 1, "first draft", "second draft", "third draft") {
			if ev["conversation_id"] == c && strings.HasPrefix(ev["type"].(string), "message.") {
				events = append(events, ev)
			}
		}
		if len(events) != 4 || events[3]["type"] != "message.recalled" {
			t.Fatalf("want new, 2 edits and the recall, got %v", events)
		}
		for _, ev := range events {
			if !strings.Contains(toJSON(ev["data"]), `"recalled":true`) {
				t.Fatalf("an event of a recalled message does not say so: %v", ev)
			}
		}
	}
}

func TestRecallWithdrawsRetriedCopies(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("wra"), e.newUser("wrb")
	conv := a.direct(b)
	_, cursor := b.syncAll("")
	first := a.send(conv, "retry-me", "retried secret")
	expect(t, first, 201)
	m := first.body["message"].(map[string]any)["id"].(string)
	for i := 0; i < 2; i++ { // each retry stores a copy under a fresh event id
		expect(t, a.send(conv, "retry-me", "retried secret"), 200)
	}
	expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+m, nil), 204)
	var recallEvent int64
	for _, ev := range syncLeaks(t, b, cursor, conv, 1, "retried secret") {
		if ev["type"] == "message.recalled" {
			recallEvent, _ = strconv.ParseInt(ev["id"].(string), 10, 64)
		}
	}
	again := a.send(conv, "retry-me", "retried secret")
	expect(t, again, 200)
	if msg := again.body["message"].(map[string]any); msg["id"] != m || msg["body"] != "" || msg["recalled"] != true {
		t.Fatalf("a retry after the recall: %s", again.raw)
	}
	for _, ev := range syncLeaks(t, b, cursor, conv, 1, "retried secret") {
		if id, _ := strconv.ParseInt(ev["id"].(string), 10, 64); id > recallEvent {
			t.Fatalf("a retry after the recall stored an event: %v", ev)
		}
	}
	h := b.do("GET", "/v1/conversations/"+conv+"/messages", nil)
	if strings.Contains(string(h.raw), "retried secret") {
		t.Fatalf("history: %s", h.raw)
	}
}

func TestRecallWithdrawsMedia(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("wma"), e.newUser("wmb")
	conv := a.direct(b)
	photo := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0}, 100)
	id := a.upload("image/jpeg", photo, "message")
	kept := a.upload("image/jpeg", photo, "message")
	sent := func(media string) string {
		r := a.do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{
			"client_msg_id": fmt.Sprintf("wm-%x", rand.Uint64()), "body": "look", "media_ids": []string{media}})
		expect(t, r, 201)
		return r.body["message"].(map[string]any)["id"].(string)
	}
	m, other := sent(id), sent(kept)
	// A grant written before grants named their message (schema v0002) must go too.
	session, ks := keyspace(t)
	convID, _ := strconv.ParseInt(conv, 10, 64)
	mediaID, _ := strconv.ParseInt(id, 10, 64)
	if err := session.Query("INSERT INTO "+ks+".media_grants (media_id, conv_id) VALUES (?, ?)", mediaID, convID).Exec(); err != nil {
		t.Fatal(err)
	}
	expect(t, b.do("GET", "/v1/media/"+id, nil), 200)
	expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+m, nil), 204)
	expect(t, b.do("GET", "/v1/media/"+id, nil), 403, "permission_denied")
	expect(t, a.do("GET", "/v1/media/"+id, nil), 200) // the owner keeps their upload
	expect(t, b.do("GET", "/v1/media/"+kept, nil), 200)
	h := b.do("GET", "/v1/conversations/"+conv+"/messages", nil)
	for _, raw := range h.body["messages"].([]any) {
		msg := raw.(map[string]any)
		if msg["id"] == m && len(msg["media"].([]any)) != 0 {
			t.Fatalf("history keeps the recalled media: %v", msg)
		}
		if msg["id"] == other && len(msg["media"].([]any)) != 1 {
			t.Fatalf("history lost another message's media: %v", msg)
		}
	}
}

// Edits racing a recall, on the real node, many times: the recall always wins,
// in what reads return and in the cells at rest, and every edit that starts
// after the recall answered is refused with conflict.
func TestEditsRacingARecallNeverResurrectTheBody(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ira"), e.newUser("irb")
	conv := a.direct(b)
	session, ks := keyspace(t)
	convID, _ := strconv.ParseInt(conv, 10, 64)
	_, cursor := b.syncAll("")
	pushes := recordPushes(b.dial())
	const rounds, editors = 12, 6
	for round := 0; round < rounds; round++ {
		clientID := fmt.Sprintf("race-%d-%x", round, rand.Uint64())
		r := a.send(conv, clientID, fmt.Sprintf("edit-%d-original", round))
		expect(t, r, 201)
		m := r.body["message"].(map[string]any)["id"].(string)
		path := "/v1/conversations/" + conv + "/messages/" + m
		var recalledAt atomic.Int64 // unix nanos once the recall answered
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < editors; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for j := 0; ; j++ {
					began := time.Now().UnixNano()
					r := a.do("PATCH", path, map[string]any{"body": fmt.Sprintf("edit-%d-by-%d-%d", round, i, j)})
					done := recalledAt.Load()
					switch {
					case r.status == 409:
						return
					case r.status != 200:
						t.Errorf("edit: %d %s", r.status, r.raw)
						return
					case done != 0 && began > done:
						t.Errorf("an edit begun after the recall answered was applied: %s", r.raw)
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() { // a retry of the send races too
			defer wg.Done()
			<-start
			for recalledAt.Load() == 0 {
				if r := a.send(conv, clientID, "ignored"); r.status != 200 {
					t.Errorf("retry: %d %s", r.status, r.raw)
					return
				}
			}
		}()
		close(start)
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		expect(t, a.do("DELETE", path, nil), 204)
		recalledAt.Store(time.Now().UnixNano())
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		h := b.do("GET", "/v1/conversations/"+conv+"/messages?limit=1", nil)
		msg := h.body["messages"].([]any)[0].(map[string]any)
		if msg["id"] != m || msg["recalled"] != true || msg["body"] != "" {
			t.Fatalf("round %d: history after the recall: %v", round, msg)
		}
		id, _ := strconv.ParseInt(m, 10, 64)
		var body string
		var recalled bool
		err := session.Query("SELECT body, recalled FROM "+ks+".messages_by_conversation WHERE conv_id = ? AND bucket = ? AND msg_id = ?",
			convID, snowflake.Bucket(id, testLayout.MessageBucket.Milliseconds()), id).Scan(&body, &recalled)
		if err != nil || !recalled || body != "" {
			t.Fatalf("round %d: the row at rest: body %q recalled %v (%v)", round, body, recalled, err)
		}
	}
	syncLeaks(t, b, cursor, conv, rounds, "edit-")
	// Pushes: on one node no edited body follows a recall (the message's lock
	// orders the announces), and the recall is each message's last change.
	marker := a.send(conv, fmt.Sprintf("marker-%x", rand.Uint64()), "marker")
	expect(t, marker, 201)
	pushes.waitFor(t, marker.body["message"].(map[string]any)["id"].(string))
	if leaks := pushes.editedBodiesAfterRecall(); len(leaks) > 0 {
		t.Fatalf("message.edited with the body pushed after message.recalled: %v", leaks)
	}
	for id, last := range pushes.lastChange() {
		if last.Type != "message.recalled" {
			t.Fatalf("message %s: the last change pushed is %s %s", id, last.Type, last.Data)
		}
	}
}

// pushRecorder keeps every frame a socket receives, in arrival order.
type pushRecorder struct {
	mu     sync.Mutex
	frames []frame
}

func recordPushes(w *wsConn) *pushRecorder {
	p := &pushRecorder{}
	go func() {
		for {
			var f frame
			if err := w.conn.ReadJSON(&f); err != nil {
				return
			}
			p.mu.Lock()
			p.frames = append(p.frames, f)
			p.mu.Unlock()
		}
	}()
	return p
}

type pushedMessage struct {
	ID      string `json:"id"` // message.new carries the message itself
	Message struct {
		ID   string `json:"id"`
		Body string `json:"body"`
	} `json:"message"`
}

// waitFor polls until a push about message id has arrived: every push sent
// before it to this socket has arrived too.
func (p *pushRecorder) waitFor(t *testing.T, id string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		for _, f := range p.frames {
			var d pushedMessage
			if json.Unmarshal(f.Data, &d) == nil && (d.ID == id || d.Message.ID == id) {
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
	}
	t.Fatalf("no push about message %s", id)
}

// lastChange is each message's last message.edited or message.recalled push.
func (p *pushRecorder) lastChange() map[string]frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]frame{}
	for _, f := range p.frames {
		var d pushedMessage
		if (f.Type == "message.edited" || f.Type == "message.recalled") && json.Unmarshal(f.Data, &d) == nil {
			out[d.Message.ID] = f
		}
	}
	return out
}

// editedBodiesAfterRecall lists the message.edited pushes with a body that
// arrived after a message.recalled of the same message.
func (p *pushRecorder) editedBodiesAfterRecall() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	recalled := map[string]bool{}
	var out []string
	for _, f := range p.frames {
		var d pushedMessage
		if json.Unmarshal(f.Data, &d) != nil {
			continue
		}
		switch f.Type {
		case "message.recalled":
			recalled[d.Message.ID] = true
		case "message.edited":
			if recalled[d.Message.ID] && d.Message.Body != "" {
				out = append(out, string(f.Data))
			}
		}
	}
	return out
}

// An edit whose write lands just before a recall, but whose announce comes
// after the recall's (forced with DebugEditDelay), pushes nothing: the recall
// is the last word on every socket, the edit answers 409.
func TestEditOvertakenByARecallPushesNoBody(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.DebugEditDelay = 700 * time.Millisecond })
	a, b := e.newUser("ora"), e.newUser("orb")
	conv := a.direct(b)
	pushes := recordPushes(b.dial())
	r := a.send(conv, fmt.Sprintf("over-%x", rand.Uint64()), "original")
	expect(t, r, 201)
	m := r.body["message"].(map[string]any)["id"].(string)
	path := "/v1/conversations/" + conv + "/messages/" + m
	edited := make(chan resp, 1)
	go func() { edited <- a.do("PATCH", path, map[string]any{"body": "SECRET"}) }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		h := b.do("GET", "/v1/conversations/"+conv+"/messages?limit=1", nil)
		if h.body["messages"].([]any)[0].(map[string]any)["body"] == "SECRET" {
			break // the edit's write is in; its announce waits
		}
		if time.Now().After(deadline) {
			t.Fatal("the edit never landed")
		}
	}
	expect(t, a.do("DELETE", path, nil), 204)
	expect(t, <-edited, 409, "conflict")
	marker := a.send(conv, fmt.Sprintf("marker-%x", rand.Uint64()), "marker")
	expect(t, marker, 201)
	pushes.waitFor(t, marker.body["message"].(map[string]any)["id"].(string))
	if leaks := pushes.editedBodiesAfterRecall(); len(leaks) > 0 {
		t.Fatalf("message.edited with the body pushed after message.recalled: %v", leaks)
	}
	if last := pushes.lastChange()[m]; last.Type != "message.recalled" {
		t.Fatalf("the last change pushed is %s %s", last.Type, last.Data)
	}
}
