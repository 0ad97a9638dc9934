package api_test

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// uuidV7 makes a canonical UUIDv7 carrying at (RFC 9562).
func uuidV7(at time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(at.UnixMilli()))
	copy(b[:6], ts[2:])
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// The test servers' fresh window: a third of their 1 s send deadline.
const testFreshWindow = time.Second / 3

func msgOf(r resp) map[string]any { return r.body["message"].(map[string]any) }

// historyByClientID returns the conversation's messages with clientMsgID.
func historyByClientID(c *client, conv, clientMsgID string) []map[string]any {
	c.t.Helper()
	r := c.do("GET", "/v1/conversations/"+conv+"/messages?limit=100", nil)
	expect(c.t, r, 200)
	var out []map[string]any
	for _, m := range r.body["messages"].([]any) {
		if m.(map[string]any)["client_msg_id"] == clientMsgID {
			out = append(out, m.(map[string]any))
		}
	}
	return out
}

// claimed tells whether a send_dedupe claim exists for the pair.
func claimed(t *testing.T, e *env, sender, clientMsgID string) bool {
	t.Helper()
	session, _ := keyspace(t)
	uid, _ := strconv.ParseInt(sender, 10, 64)
	var n int
	if err := session.Query(`SELECT COUNT(*) FROM send_dedupe WHERE sender_id = ? AND client_msg_id = ?`, uid, clientMsgID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// lateTime waits until a time shortly after conv's creation is older than the
// fresh window, and returns it: a UUIDv7 of it takes the late path.
func lateTime(t *testing.T, conv string, after time.Duration) time.Time {
	t.Helper()
	id, _ := strconv.ParseInt(conv, 10, 64)
	at := snowflake.Time(id).Add(after)
	for time.Since(at) < testFreshWindow+after+100*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
	}
	return at
}

// Guarantee 2 without a lightweight transaction: a UUIDv7 client_msg_id maps
// to one message id, so retries, concurrent ones included, and a retry after
// the fresh window return the one message, and no send_dedupe claim is made.
func TestUUIDv7SendIsIdempotentWithoutAClaim(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("va"), e.newUser("vb")
	conv := a.direct(b)
	at := time.Now()
	cid := uuidV7(at)
	first := a.send(conv, cid, "hello")
	expect(t, first, 201)
	id := msgOf(first)["id"].(string)
	n, _ := strconv.ParseInt(id, 10, 64)
	if got := snowflake.Time(n).UnixMilli(); got != at.UnixMilli() {
		t.Fatalf("message id time %d, want the UUID's %d", got, at.UnixMilli())
	}
	var wg sync.WaitGroup
	out := make(chan resp, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); out <- a.send(conv, cid, "hello") }()
	}
	wg.Wait()
	close(out)
	for r := range out {
		if r.status != 201 && r.status != 200 {
			t.Fatalf("retry: %d %s", r.status, r.raw)
		}
		if got := msgOf(r)["id"]; got != id {
			t.Fatalf("retry made message %v, first was %v", got, id)
		}
	}
	for time.Since(at) < testFreshWindow+50*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
	}
	late := a.send(conv, cid, "hello")
	expect(t, late, 200) // the late path read the stored message: a retry
	if msgOf(late)["id"] != id {
		t.Fatalf("late retry made message %v, first was %v", msgOf(late)["id"], id)
	}
	if got := historyByClientID(b, conv, cid); len(got) != 1 {
		t.Fatalf("history holds %d copies of one send", len(got))
	}
	if claimed(t, e, a.userID, cid) {
		t.Fatal("a UUIDv7 send took a send_dedupe claim")
	}

	t.Run("late first attempt", func(t *testing.T) {
		cid := uuidV7(lateTime(t, conv, 50*time.Millisecond))
		r := a.send(conv, cid, "late")
		expect(t, r, 201)
		again := a.send(conv, cid, "late")
		expect(t, again, 200)
		if msgOf(r)["id"] != msgOf(again)["id"] || len(historyByClientID(b, conv, cid)) != 1 {
			t.Fatal("a late send's retry made a second message")
		}
	})
}

// An edit and a recall acknowledged between two attempts of one send survive
// the later attempt's blind write: it is written at a timestamp below them.
func TestUUIDv7RetryKeepsEditAndRecall(t *testing.T) {
	// A 6 s deadline: a 2 s fresh window, so on a busy box the retries below
	// still come while the send is fresh (written blind, answered 201).
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) {
		c.SendDeadline, c.SyncLag = 6*time.Second, 9*time.Second
	})
	a, b := e.newUser("ea"), e.newUser("eb")
	conv := a.direct(b)
	_, cursor := b.syncAll("")
	// A device clock 1.9 s ahead: the send stays fresh (written blind) for
	// about 3.9 s, time for an edit or a recall in between.
	ahead := time.Now().Add(1900 * time.Millisecond)
	edited, recalled := uuidV7(ahead), uuidV7(ahead)
	r := a.send(conv, edited, "first")
	expect(t, r, 201)
	editedID := msgOf(r)["id"].(string)
	expect(t, a.do("PATCH", "/v1/conversations/"+conv+"/messages/"+editedID, map[string]any{"body": "second"}), 200)
	r = a.send(conv, recalled, "regret")
	expect(t, r, 201)
	recalledID := msgOf(r)["id"].(string)
	expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+recalledID, nil), 204)

	expect(t, a.send(conv, edited, "first"), 201) // 201: written blind again
	expect(t, a.send(conv, recalled, "regret"), 201)

	if h := historyByClientID(b, conv, edited); len(h) != 1 || h[0]["body"] != "second" {
		t.Fatalf("after the retry the edited message reads %v", h)
	}
	if h := historyByClientID(b, conv, recalled); len(h) != 1 || h[0]["recalled"] != true || h[0]["body"] != "" {
		t.Fatalf("after the retry the recalled message reads %v", h)
	}
	// Sync hands out the current message in every message.new event of them.
	events, _ := b.syncSettled(cursor)
	seen := 0
	for _, ev := range events {
		if ev["type"] != "message.new" {
			continue
		}
		m := ev["data"].(map[string]any)
		switch m["id"] {
		case editedID:
			seen++
			if m["body"] != "second" {
				t.Errorf("sync's message.new of the edited message carries %q", m["body"])
			}
		case recalledID:
			seen++
			if m["recalled"] != true || m["body"] != "" {
				t.Errorf("sync's message.new of the recalled message carries %v", m)
			}
		}
	}
	if seen < 2 {
		t.Fatalf("sync returned %d message.new events of the two messages", seen)
	}
}

// A UUIDv7 older than the dedupe TTL is refused with invalid_argument; one
// older than its conversation is placed just after the conversation's
// creation. (Ahead of the clock: TestUUIDv7AheadIsRetriedWithTheSameID.)
func TestUUIDv7TimeOutOfRange(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ra"), e.newUser("rb")
	conv := a.direct(b)
	for name, at := range map[string]time.Time{
		"old":   time.Now().Add(-repo.DefaultRetention().Dedupe - time.Minute),
		"epoch": time.UnixMilli(0),
	} {
		r := a.send(conv, uuidV7(at), "when?")
		expect(t, r, 400, "invalid_argument")
		if msg := r.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "new client_msg_id") {
			t.Errorf("%s: the message does not say what to do: %q", name, msg)
		}
	}
	cid := uuidV7(time.Now().Add(-time.Hour)) // a device clock an hour behind
	r := a.send(conv, cid, "before the conversation")
	expect(t, r, 201)
	id, _ := strconv.ParseInt(msgOf(r)["id"].(string), 10, 64)
	convID, _ := strconv.ParseInt(conv, 10, 64)
	if id <= convID || snowflake.Time(id).Sub(snowflake.Time(convID)) != time.Millisecond {
		t.Fatalf("message %d not placed just after its conversation %d", id, convID)
	}
	forward := b.do("GET", "/v1/conversations/"+conv+"/messages?after="+conv, nil)
	expect(t, forward, 200)
	if ms := forward.body["messages"].([]any); len(ms) != 1 || ms[0].(map[string]any)["id"] != msgOf(r)["id"] {
		t.Fatalf("history after the conversation's creation: %s", forward.raw)
	}
	if again := a.send(conv, cid, "before the conversation"); again.status != 201 && again.status != 200 {
		t.Fatalf("retry: %d %s", again.status, again.raw)
	}
	if len(historyByClientID(b, conv, cid)) != 1 {
		t.Fatal("a retry made a second message")
	}
}

// Every other client_msg_id, UUIDs of other versions or variants included,
// keeps the send_dedupe claim.
func TestOtherClientIDsKeepTheClaim(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("oa"), e.newUser("ob")
	conv := a.direct(b)
	v7 := uuidV7(time.Now())
	for _, cid := range []string{
		"3f1e2d4c-5b6a-4978-8a6b-5c4d3e2f1a0b",  // version 4
		v7[:19] + "c" + v7[20:],                 // version 7, variant 110
		strings.ToUpper(v7)[:35] + "Z",          // not hex
		v7 + "0",                                // too long
		"{" + v7[1:35] + "}",                    // not canonical
		strings.ReplaceAll(v7, "-", "") + "abc", // no dashes
	} {
		expect(t, a.send(conv, cid, "claimed"), 201)
		expect(t, a.send(conv, cid, "claimed"), 200) // 200: the claim found the first
		if !claimed(t, e, a.userID, cid) {
			t.Fatalf("%s: no send_dedupe claim", cid)
		}
	}
}

// Two messages that share a derived id (planted here; by chance 2^-22 for two
// messages of one conversation in one millisecond) are never merged where the
// send reads first (late sends, and every group send): the second is refused
// with conflict.
func TestUUIDv7IDCollisionIsRefused(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Groups.PushMaxMembers = 2 })
	a, b, c := e.newUser("ca"), e.newUser("cb"), e.newUser("cc")
	dm := a.direct(b)
	pull := a.group("big", b, c) // three members: pull mode
	push := a.group("small", b)
	sender, _ := strconv.ParseInt(a.userID, 10, 64)
	other, _ := strconv.ParseInt(b.userID, 10, 64)
	for name, tc := range map[string]struct {
		conv string
		at   func() time.Time
	}{
		"late":       {dm, func() time.Time { return lateTime(t, dm, 50*time.Millisecond) }},
		"fresh pull": {pull, time.Now},
		"fresh push": {push, time.Now},
	} {
		cid := uuidV7(tc.at())
		convID, _ := strconv.ParseInt(tc.conv, 10, 64)
		id := api.DerivedMessageID(e.api, sender, convID, cid)
		planted := repo.Message{ID: id, ConvID: convID, SenderID: other, ClientMsgID: "someone else's", Body: "theirs", Media: "[]"}
		if err := e.store.PutMessage(t.Context(), planted); err != nil {
			t.Fatal(err)
		}
		expect(t, a.send(tc.conv, cid, "mine"), 409, "conflict")
		if m, err := e.store.GetMessage(t.Context(), convID, id); err != nil || m.Body != "theirs" || m.SenderID != other {
			t.Fatalf("%s: the planted message reads %+v, %v", name, m, err)
		}
	}
}

// Sync never skips UUIDv7 sends of a pull-mode group: fresh ones are read
// from the timeline, and a late one whose id the cursor has passed arrives
// through an inbox event.
func TestUUIDv7PullSyncNeverSkips(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Groups.PushMaxMembers = 1 })
	owner, v := e.newUser("qo"), e.newUser("qv")
	conv := owner.group("pulled", v)
	// Wait until a time just after the creation is older than the sync lag
	// (1.5 s): the cursor synced then stands past the late message's id.
	convID, _ := strconv.ParseInt(conv, 10, 64)
	for time.Since(snowflake.Time(convID)) < 2500*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
	}
	_, cursor := v.syncAll("")
	want := map[string]bool{}
	late := owner.send(conv, uuidV7(snowflake.Time(convID).Add(100*time.Millisecond)), "late")
	expect(t, late, 201)
	want[msgOf(late)["id"].(string)] = true
	for i := 0; i < 5; i++ {
		r := owner.send(conv, uuidV7(time.Now()), fmt.Sprintf("fresh %d", i))
		expect(t, r, 201)
		want[msgOf(r)["id"].(string)] = true
	}
	events, _ := v.syncSettled(cursor)
	got := map[string]int{}
	for _, ev := range events {
		if ev["type"] == "message.new" {
			got[ev["data"].(map[string]any)["id"].(string)]++
		}
	}
	for id := range want {
		if got[id] == 0 {
			t.Errorf("sync skipped message %s", id)
		}
	}
}

// A UUIDv7 further ahead than the clock skew may be a retry of a send
// already stored through a node whose clock is ahead: the answer is "not
// yet" (503, retry after the time until it is no longer ahead) with the same
// id, never "use a new client_msg_id", and the retry when due is one
// message. Far ahead (a device clock to fix) it is 400, still keeping the id.
func TestUUIDv7AheadIsRetriedWithTheSameID(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("aa"), e.newUser("ab")
	conv := a.direct(b)
	cid := uuidV7(time.Now().Add(repo.ClockSkew + 3*time.Second))
	r := a.send(conv, cid, "early")
	expect(t, r, 503, "unavailable")
	wait, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || wait < 1 || wait > 5 {
		t.Fatalf("Retry-After %q; want the ~3 s until the id is no longer ahead", r.header.Get("Retry-After"))
	}
	if msg := r.body["error"].(map[string]any)["message"].(string); strings.Contains(msg, "new client_msg_id") || !strings.Contains(msg, "same client_msg_id") {
		t.Fatalf("an early send's answer must keep the id: %q", msg)
	}
	for deadline := time.Now().Add(10 * time.Second); r.status == 503; {
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the hint: %s", r.raw)
		}
		time.Sleep(time.Duration(wait) * time.Second)
		r = a.send(conv, cid, "early")
	}
	expect(t, r, 201)
	if again := a.send(conv, cid, "early"); again.status != 201 && again.status != 200 {
		t.Fatalf("retry: %d %s", again.status, again.raw)
	}
	if n := len(historyByClientID(b, conv, cid)); n != 1 {
		t.Fatalf("%d messages for one client_msg_id", n)
	}
	far := a.send(conv, uuidV7(time.Now().Add(2*time.Minute)), "far")
	expect(t, far, 400, "invalid_argument")
	if msg := far.body["error"].(map[string]any)["message"].(string); strings.Contains(msg, "new client_msg_id") || !strings.Contains(msg, "clock") {
		t.Fatalf("a far-ahead send's answer must say to fix the clock and not invite a new id: %q", msg)
	}
}

// A retry of a recalled UUIDv7 send with media, within the fresh window,
// does not grant the recalled media again: a send with media reads its row
// before it grants.
func TestUUIDv7RetryAfterRecallDoesNotRegrantMedia(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ga"), e.newUser("gb")
	conv := a.direct(b)
	id := a.upload("image/jpeg", []byte("not really a jpeg, but bytes"), "message")
	cid := uuidV7(time.Now().Add(1900 * time.Millisecond)) // fresh for about 3.9 s
	send := func() resp {
		return a.do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{"client_msg_id": cid, "body": "", "media_ids": []string{id}})
	}
	r := send()
	expect(t, r, 201)
	expect(t, b.do("GET", "/v1/media/"+id, nil), 200)
	expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+msgOf(r)["id"].(string), nil), 204)
	if got := b.do("GET", "/v1/media/"+id, nil); got.status == 200 {
		t.Fatalf("recalled media still fetchable: %s", got.raw)
	}
	again := send()
	if again.status != 200 && again.status != 201 {
		t.Fatalf("retry: %d %s", again.status, again.raw)
	}
	if got := b.do("GET", "/v1/media/"+id, nil); got.status == 200 {
		t.Fatalf("a retry after the recall granted the media again: %s", got.raw)
	}
	if m := msgOf(again); m["recalled"] != true {
		t.Fatalf("the retry answered %v, want the recalled message", m)
	}
}
