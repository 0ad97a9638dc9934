package api_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// A user with more than 1,000 conversations sees the newest first, a message
// moves its conversation to the top, and paging reaches every one of them once.
func TestChatListNewestFirstPastAThousand(t *testing.T) {
	e := newEnv(t)
	me, friend := e.newUser("many"), e.newUser("mf")
	gen, err := snowflake.NewGenerator(<-nodeIDs)
	if err != nil {
		t.Fatal(err)
	}
	myID, _ := strconv.ParseInt(me.userID, 10, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 1050
	convs := make([]int64, n)
	for i := range convs {
		convs[i] = gen.Next() // in creation order: convs[n-1] is the newest
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, id := range convs {
		g.Go(func() error {
			_, _, err := e.store.GetOrCreateDirect(gctx, myID, gen.Next(), id)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	first := chatList(t, me, "?limit=10")
	if len(first) != 10 || convIDOf(first[0]) != strconv.FormatInt(convs[n-1], 10) {
		t.Fatalf("newest conversation not first: %v", first[0])
	}
	// Activity in a conversation older than all of those moves it to the top.
	withFriend := me.direct(friend)
	friend.mustSend(withFriend, "hi")
	if top := chatList(t, me, "?limit=1"); convIDOf(top[0]) != withFriend {
		t.Fatalf("conversation with new activity not first: %v", top[0])
	}
	seen := map[string]bool{}
	var order []int64
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 2*n/100+5 {
			t.Fatal("paging does not end")
		}
		r := me.do("GET", "/v1/conversations?limit=100"+cursor, nil)
		expect(t, r, 200)
		for _, x := range r.body["conversations"].([]any) {
			id := convIDOf(x.(map[string]any))
			if seen[id] {
				t.Fatalf("conversation %s listed twice", id)
			}
			seen[id] = true
			v, _ := strconv.ParseInt(id, 10, 64)
			order = append(order, v)
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if len(seen) != n+1 {
		t.Fatalf("paged through %d conversations, want %d", len(seen), n+1)
	}
	if !slices.IsSortedFunc(order[1:], func(a, b int64) int { return int(b - a) }) {
		t.Fatal("pages are not newest first")
	}
}

// A sender's own messages are never unread to the sender.
func TestUnreadExcludesOwnMessages(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("oa"), e.newUser("ob")
	conv := a.direct(b)
	b.mustSend(conv, "b1")
	b.mustSend(conv, "b2")
	for _, body := range []string{"a1", "a2", "a3"} {
		a.mustSend(conv, body)
	}
	if n := chatList(t, a, "")[0]["unread_count"]; n != float64(2) {
		t.Fatalf("a's unread: %v, want 2 (b's messages only)", n)
	}
	if n := chatList(t, b, "")[0]["unread_count"]; n != float64(3) {
		t.Fatalf("b's unread: %v, want 3", n)
	}
}

// A direct conversation's entry names the other member.
func TestDirectEntryHasPeer(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("pa"), e.newUser("pb")
	a.direct(b)
	for _, pair := range [][2]*client{{a, b}, {b, a}} {
		peer, _ := chatList(t, pair[0], "")[0]["peer"].(map[string]any)
		if peer == nil || peer["id"] != pair[1].userID || peer["handle"] != pair[1].handle || peer["display_name"] != pair[1].handle {
			t.Fatalf("peer of %s's entry: %v", pair[0].handle, peer)
		}
	}
	g := a.group("no peer", b)
	for _, chat := range chatList(t, a, "") {
		if convIDOf(chat) == g && chat["peer"] != nil {
			t.Fatalf("a group entry has a peer: %v", chat)
		}
	}
}

// Sends from both sides racing pin toggles leave one entry per conversation,
// in the section its settings say, at its newest message, by the second
// listing at the latest (the first repairs what the races left).
func TestChatListConvergesUnderRacingMoves(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ra"), e.newUser("rb")
	conv := a.direct(b)
	other := a.direct(e.newUser("rc"))
	var g errgroup.Group
	for i := range 10 {
		g.Go(func() error { a.mustSend(conv, "a"+strconv.Itoa(i)); return nil })
		g.Go(func() error { b.mustSend(conv, "b"+strconv.Itoa(i)); return nil })
		g.Go(func() error {
			expect(t, a.do("PUT", "/v1/conversations/"+conv+"/me", map[string]any{"pinned": i%2 == 0}), 200)
			return nil
		})
	}
	_ = g.Wait()
	expect(t, a.do("PUT", "/v1/conversations/"+conv+"/me", map[string]any{"pinned": false}), 200)
	last := b.mustSend(conv, "last")["id"]
	chatList(t, a, "")
	list := chatList(t, a, "")
	if len(list) != 2 || convIDOf(list[0]) != conv || convIDOf(list[1]) != other {
		t.Fatalf("list after racing moves: %v", list)
	}
	if list[0]["pinned"] != false || list[0]["last_message"].(map[string]any)["id"] != last {
		t.Fatalf("entry after racing moves: %v", list[0])
	}
}

// Conversations from before chats_by_activity existed (no list rows, no
// positions) are listed at their newest message on the first listing.
func TestChatListBackfillsOlderConversations(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.newUser("ba"), e.newUser("bb"), e.newUser("bc")
	older, newer := a.direct(b), a.direct(c)
	b.mustSend(older, "newest message")
	// TRUNCATE, not DELETE: it leaves the keyspace as before the tables had
	// rows, with no tombstone above the back-fill's message-time cells.
	session, _ := keyspace(t)
	for _, table := range []string{"chat_positions", "chats_by_activity"} {
		if err := session.Query(`TRUNCATE ` + table).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	list := chatList(t, a, "")
	if len(list) != 2 || convIDOf(list[0]) != older || convIDOf(list[1]) != newer {
		t.Fatalf("list of conversations older than the list table: %v", list)
	}
}

// A message in a pull-mode group moves it in its members' lists too.
func TestPullGroupMovesInChatList(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Groups.PushMaxMembers = 2 })
	a, b, c := e.newUser("pga"), e.newUser("pgb"), e.newUser("pgc")
	g := a.group("pull", b, c)
	dm := b.direct(c)
	if top := chatList(t, b, "?limit=1"); convIDOf(top[0]) != dm {
		t.Fatalf("newest conversation not first: %v", top[0])
	}
	a.mustSend(g, "moves the group up")
	if top := chatList(t, b, "?limit=1"); convIDOf(top[0]) != g || top[0]["unread_count"] != float64(1) {
		t.Fatalf("pull group not moved up by its message: %v", top[0])
	}
}

// Sends from two nodes into one conversation at once race their moves of each
// member's row (each move reads the position, then writes the rows): after one
// listing every member's list holds exactly one row per chat, at the newest
// message, agreeing with its position, and unread counts every message of the
// peer.
func TestConcurrentSendsFromTwoNodesLeaveOneRowPerChat(t *testing.T) {
	session, _ := keyspace(t)
	n1, n2 := newEnvOn(t, session), newEnvOn(t, session)
	a1, b1 := n1.newUser("na"), n1.newUser("nb")
	a2, b2 := n2.login(a1.handle), n2.login(b1.handle)
	conv := a1.direct(b1)
	other := a1.direct(n1.newUser("nc"))
	a1.mustSend(other, "older")
	var g errgroup.Group
	for i := range 6 {
		for _, c := range []*client{a1, a2, b1, b2} {
			g.Go(func() error { c.sendRetrying(conv, c.deviceID+"-"+strconv.Itoa(i)); return nil })
		}
	}
	_ = g.Wait()
	last := b2.mustSend(conv, "last")["id"].(string)
	for _, u := range []*client{a1, b1} {
		list := chatList(t, u, "")
		if convIDOf(list[0]) != conv || list[0]["last_message"].(map[string]any)["id"] != last {
			t.Fatalf("user %s's list: %v", u.handle, list)
		}
		uid, _ := strconv.ParseInt(u.userID, 10, 64)
		rows := map[int64][]int64{} // conv -> activities of its rows
		for section := range 3 {
			iter := session.Query(`SELECT activity_id, conv_id FROM chats_by_activity WHERE user_id = ? AND section = ?`, uid, section).Iter()
			var activity, c int64
			for iter.Scan(&activity, &c) {
				rows[c] = append(rows[c], activity)
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
		}
		want := 2
		if u == b1 {
			want = 1
		}
		if len(rows) != want {
			t.Fatalf("user %s's list rows: %v", u.handle, rows)
		}
		for c, acts := range rows {
			var pos int64
			if err := session.Query(`SELECT activity_id FROM chat_positions WHERE user_id = ? AND conv_id = ?`, uid, c).Scan(&pos); err != nil {
				t.Fatal(err)
			}
			if len(acts) != 1 || acts[0] != pos {
				t.Fatalf("user %s, conversation %d: rows at %v, position %d", u.handle, c, acts, pos)
			}
		}
		if got := rows[mustID(t, conv)]; strconv.FormatInt(got[0], 10) != last {
			t.Fatalf("user %s: the conversation's row is at %d, its newest message %s", u.handle, got[0], last)
		}
	}
	if unread := chatList(t, a1, "")[0]["unread_count"]; unread != float64(13) {
		t.Fatalf("a's unread count: %v, want 13 (b's messages)", unread)
	}
}

// sendRetrying sends as a client does: a 503 (a loaded node) is retried with
// the same client_msg_id.
func (c *client) sendRetrying(conv, body string) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		r := c.send(conv, body, body)
		if r.status == 201 || r.status == 200 {
			return
		}
		if r.status != 503 || time.Now().After(deadline) {
			c.t.Errorf("send: %d %s", r.status, r.raw)
			return
		}
		time.Sleep(50 * time.Millisecond) // a client's back-off
	}
}

func mustID(t testing.TB, s string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
