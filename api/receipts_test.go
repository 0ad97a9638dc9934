package api_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// streamReceipts sends read and delivered receipts of conv up to futureID,
// alternately, through sock every pace (counting them in sent, if given),
// and through rest's REST calls back to back, until stop is called.
func streamReceipts(sock *wsConn, rest *client, conv string, pace time.Duration, sent *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			raw, _ := json.Marshal(map[string]any{"conversation_id": conv, "up_to": futureID()})
			if sock.conn.WriteJSON(frame{Type: []string{"read", "delivered"}[i%2], Data: raw}) != nil {
				return
			}
			if sent != nil {
				sent.Add(1)
			}
			time.Sleep(pace) // the stream's pace
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			rest.do("POST", "/v1/conversations/"+conv+"/read", map[string]any{"up_to": futureID()})
		}
	}()
	return func() { close(done); wg.Wait() }
}

// futureID is the largest up_to a client may send: a little past now.
func futureID() string {
	return strconv.FormatInt(snowflake.MinIDAt(time.Now().Add(repo.ClockSkew)), 10)
}

// memberRowExists reads members_by_conversation directly.
func memberRowExists(t *testing.T, conv, user string) bool {
	t.Helper()
	session, _ := keyspace(t)
	c, _ := strconv.ParseInt(conv, 10, 64)
	u, _ := strconv.ParseInt(user, 10, 64)
	n := 0
	iter := session.Query(`SELECT user_id FROM members_by_conversation WHERE conv_id = ? AND user_id = ?`, c, u).Iter()
	var id int64
	for iter.Scan(&id) {
		n++
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// drain reads every frame until the socket is quiet for quiet, and returns
// them. The socket cannot be read after it (the timeout breaks it).
func (w *wsConn) drain(quiet time.Duration) []frame {
	var got []frame
	for {
		w.conn.SetReadDeadline(time.Now().Add(quiet))
		var f frame
		if err := w.conn.ReadJSON(&f); err != nil {
			return got
		}
		got = append(got, f)
	}
}

// A member streaming read/delivered receipts with up_to in the future (over the
// socket and REST at once) is still removed for good: afterwards they read
// nothing, send nothing, get no events, and the membership row stays gone
// after the future timestamps are in the past.
func TestRemovalWhileStreamingFutureReceipts(t *testing.T) {
	e := newEnv(t)
	owner, stay, gone := e.newUser("fo"), e.newUser("fs"), e.newUser("fg")
	conv := owner.group("future", stay, gone)
	owner.mustSend(conv, "hello")
	sock := gone.dial()
	var frames sync.Mutex
	var seen []frame
	readerDone := make(chan struct{})
	go func() { // the socket's frames, until it closes
		defer close(readerDone)
		for {
			var f frame
			sock.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if sock.conn.ReadJSON(&f) != nil {
				return
			}
			frames.Lock()
			seen = append(seen, f)
			frames.Unlock()
		}
	}()
	var sent atomic.Int64
	stop := streamReceipts(sock, gone, conv, 2*time.Millisecond, &sent)
	for sent.Load() < 50 {
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, owner.do("DELETE", "/v1/conversations/"+conv+"/members/"+gone.userID, nil), 204)
	time.Sleep(500 * time.Millisecond) // keep streaming past the removal
	stop()
	frames.Lock()
	mark := len(seen)
	frames.Unlock()

	check := func(when string) {
		t.Helper()
		if memberRowExists(t, conv, gone.userID) {
			t.Fatalf("%s: the removed member's row is alive", when)
		}
		expect(t, gone.do("GET", "/v1/conversations/"+conv+"/messages", nil), 403, "permission_denied")
		expect(t, gone.send(conv, "x-"+when, "let me back"), 403, "permission_denied")
		r := owner.do("GET", "/v1/conversations/"+conv+"/members", nil)
		expect(t, r, 200)
		if strings.Contains(string(r.raw), gone.userID) {
			t.Fatalf("%s: members still list the removed user: %s", when, r.raw)
		}
	}
	check("at once")
	after := owner.mustSend(conv, "after removal")["id"].(string)
	// Past every future timestamp a receipt could have carried.
	time.Sleep(repo.ClockSkew + 1500*time.Millisecond)
	check("later")
	after2 := owner.mustSend(conv, "much later")["id"].(string)
	time.Sleep(time.Second) // a window for a wrong push to show: an absence cannot be polled for
	sock.conn.Close()
	<-readerDone
	frames.Lock()
	defer frames.Unlock()
	for _, f := range seen[mark:] {
		if f.Type == "error" || f.Type == "ack" {
			continue
		}
		if s := string(f.Data); strings.Contains(s, after) || strings.Contains(s, after2) || f.Type == "receipt" {
			t.Fatalf("removed member got %s %s", f.Type, f.Data)
		}
	}
}

// inboxKinds counts the inbox rows of users by kind, from since to now, read
// straight from inbox_by_user.
func inboxKinds(t *testing.T, e *env, since time.Time, users ...*client) map[string]int {
	t.Helper()
	session, _ := keyspace(t)
	ms := testLayout.InboxBucket.Milliseconds()
	first := snowflake.Bucket(snowflake.MinIDAt(since.Add(-repo.ClockSkew)), ms)
	last := snowflake.Bucket(snowflake.MinIDAt(time.Now().Add(repo.ClockSkew)), ms)
	out := map[string]int{}
	for _, u := range users {
		uid, _ := strconv.ParseInt(u.userID, 10, 64)
		for b := first; b <= last; b++ {
			iter := session.Query(`SELECT kind FROM inbox_by_user WHERE user_id = ? AND bucket = ?`, uid, b).Iter()
			var k string
			for iter.Scan(&k) {
				out[k]++
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// Repeated and backward receipts write nothing; forward ones are delivered,
// and in a group they are stored only for the reader's own devices.
func TestReceiptsWriteOnlyForwardMoves(t *testing.T) {
	e := newEnv(t)
	s, r1, r2 := e.newUser("ws"), e.newUser("w1"), e.newUser("w2")
	g := s.group("writes", r1, r2)
	older := s.mustSend(g, "one")["id"].(string)
	m := s.mustSend(g, "two")["id"].(string)
	sender := s.dial()
	w := r1.dial()
	start := time.Now()
	w.write("read", "first", map[string]any{"conversation_id": g, "up_to": m})
	w.next("ack")
	if f := sender.next("receipt"); !strings.Contains(string(f.Data), `"read_up_to":"`+m) {
		t.Fatalf("receipt to the sender: %s", f.Data)
	}
	base := inboxKinds(t, e, start, s, r1, r2)["receipt"]
	if base > 1 {
		t.Fatalf("one forward read in a 3-member group wrote %d inbox rows, want at most 1 (the reader's)", base)
	}
	for i := 0; i < 20; i++ {
		for _, kind := range []string{"read", "delivered"} {
			for _, upTo := range []string{m, older} {
				w.write(kind, "r"+strconv.Itoa(i)+kind+upTo, map[string]any{"conversation_id": g, "up_to": upTo})
				w.next("ack")
			}
		}
		expect(t, r1.do("POST", "/v1/conversations/"+g+"/read", map[string]any{"up_to": older}), 204)
	}
	for _, f := range sender.drain(500 * time.Millisecond) {
		if f.Type == "receipt" {
			t.Fatalf("a repeated or backward receipt reached the sender: %s", f.Data)
		}
	}
	if n := inboxKinds(t, e, start, s, r1, r2)["receipt"]; n != base {
		t.Fatalf("repeated and backward receipts wrote %d inbox rows", n-base)
	}
	// Forward moves in a burst: coalesced, and the last one arrives.
	sender = s.dial()
	var last string
	for i := 0; i < 5; i++ {
		last = s.mustSend(g, "more")["id"].(string)
		expect(t, r1.do("POST", "/v1/conversations/"+g+"/read", map[string]any{"up_to": last}), 204)
	}
	for {
		f := sender.next("receipt")
		if strings.Contains(string(f.Data), `"read_up_to":"`+last) {
			break
		}
	}
	if n := inboxKinds(t, e, start, s, r1, r2)["receipt"]; n-base > 2 {
		t.Fatalf("a burst of 5 forward reads wrote %d inbox rows, want at most 2 (coalesced)", n-base)
	}
	r := s.do("GET", "/v1/conversations/"+g+"/messages/"+last+"/receipts", nil)
	expect(t, r, 200)
	if r.body["read_count"] != float64(1) {
		t.Fatalf("receipts: %s", r.raw)
	}
	// A receipt beyond the conversation's newest message is held to it.
	expect(t, r2.do("POST", "/v1/conversations/"+g+"/read", map[string]any{"up_to": futureID()}), 204)
	next := s.mustSend(g, "after the clamp")["id"].(string)
	r = s.do("GET", "/v1/conversations/"+g+"/messages/"+next+"/receipts", nil)
	if strings.Contains(string(r.raw), r2.userID) {
		t.Fatalf("a future up_to marked a later message read: %s", r.raw)
	}
}

// Receipts of a user the peer blocks do not reach the peer in an existing DM.
func TestBlockedUsersReceiptsDoNotReachTheBlocker(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ba"), e.newUser("bb")
	dm := a.direct(b)
	m := a.mustSend(dm, "before the block")["id"].(string)
	expect(t, a.do("PUT", "/v1/blocks/"+b.userID, nil), 204)
	watch := a.dial()
	start := time.Now()
	w := b.dial()
	w.write("delivered", "d", map[string]any{"conversation_id": dm, "up_to": m})
	w.next("ack")
	w.write("read", "r", map[string]any{"conversation_id": dm, "up_to": m})
	w.next("ack")
	for _, f := range watch.drain(700 * time.Millisecond) {
		if f.Type == "receipt" {
			t.Fatalf("the blocker got a receipt: %s", f.Data)
		}
	}
	if n := inboxKinds(t, e, start, a)["receipt"]; n != 0 {
		t.Fatalf("the blocker's inbox has %d receipts", n)
	}
	r := a.do("GET", "/v1/conversations/"+dm+"/messages/"+m+"/receipts", nil)
	expect(t, r, 200)
	if strings.Contains(string(r.raw), b.userID) {
		t.Fatalf("receipts show the blocked user: %s", r.raw)
	}
}

// Removal vs receipts across two nodes, repeatedly: the member streams future
// receipts through one node while the owner removes (and re-adds) them through
// the other. After each removal the row is gone and stays gone, and the member
// is refused everywhere.
func TestRemovalVsReceiptsAcrossNodes(t *testing.T) {
	a := newEnv(t)
	session, _ := keyspace(t)
	b := newEnvOn(t, session)
	owner, gone := a.newUser("xo"), a.newUser("xg")
	conv := owner.group("two nodes", gone)
	owner.mustSend(conv, "hello")
	onB := &client{e: b, t: t, token: gone.token, userID: gone.userID}
	path := "/v1/conversations/" + conv + "/members/" + gone.userID
	for round := 0; round < 4; round++ {
		sock := onB.dial()
		go func() { // replies are not read: the socket is closed after the round
			for sock.conn.ReadJSON(&frame{}) == nil {
			}
		}()
		stop := streamReceipts(sock, onB, conv, 3*time.Millisecond, nil)
		time.Sleep(200 * time.Millisecond) // receipts streaming before the removal: the scenario
		expect(t, owner.do("DELETE", path, nil), 204)
		time.Sleep(200 * time.Millisecond) // and after it
		stop()
		sock.conn.Close()
		if memberRowExists(t, conv, gone.userID) {
			t.Fatalf("round %d: the removed member's row is alive", round)
		}
		expect(t, onB.do("GET", "/v1/conversations/"+conv+"/messages", nil), 403, "permission_denied")
		expect(t, gone.send(conv, "x"+strconv.Itoa(round), "back?"), 403, "permission_denied")
		if round == 3 {
			time.Sleep(repo.ClockSkew + 1500*time.Millisecond)
			if memberRowExists(t, conv, gone.userID) {
				t.Fatal("the removed member's row came back")
			}
			return
		}
		expect(t, owner.do("PUT", path, nil), 200)
		expect(t, onB.do("GET", "/v1/conversations/"+conv+"/messages", nil), 200)
	}
}
