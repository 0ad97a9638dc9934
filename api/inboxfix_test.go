package api_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/snowflake"
)

// A member removed from a group reads nothing written after their removal
// (guarantee 4), not even through an inbox row of a message sent while they
// were a member: an edit's announce rewrites only current members' rows, so a
// group's message.new rows carry the message as sent, not a reference that
// sync would render from the message row as it is now.
func TestRemovedMemberDoesNotReadEditAfterRemoval(t *testing.T) {
	e := newEnv(t)
	owner, m := e.newUser("bo"), e.newUser("bm")
	conv := owner.group("g", m)
	_, cursor := m.syncAll("") // m's device, offline from here
	msg := owner.mustSend(conv, "original body")["id"].(string)
	expect(t, owner.do("DELETE", "/v1/conversations/"+conv+"/members/"+m.userID, nil), 204)
	expect(t, owner.do("PATCH", "/v1/conversations/"+conv+"/messages/"+msg, map[string]any{"body": "SECRET written after removal"}), 200)
	events, _ := m.syncAll(cursor)
	sawOriginal := false
	for _, ev := range events {
		data := toJSON(ev["data"])
		if strings.Contains(data, "SECRET") {
			t.Fatalf("removed member's sync carries an edit made after removal: %s %s", ev["type"], data)
		}
		sawOriginal = sawOriginal || strings.Contains(data, "original body")
	}
	if !sawOriginal {
		t.Fatalf("removed member's sync lacks the message sent while they were a member: %v", events)
	}
}

// With --inbox-references off (a rolling upgrade: nodes of an older version
// still serve sync and cannot render references), a direct message's inbox
// rows carry the message, as before references.
func TestInboxReferencesOffWritesPayloadRows(t *testing.T) {
	session, _ := keyspace(t)
	e := newEnvOn(t, session, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.InboxReferences = false })
	a, b := e.newUser("oa"), e.newUser("ob")
	conv := a.direct(b)
	msgID := mustID(t, a.mustSend(conv, "copied body")["id"].(string))
	if _, _, payload := inboxRow(t, session, mustID(t, b.userID), msgID); payload == nil || !strings.Contains(*payload, "copied body") {
		t.Fatalf("with references off the inbox row's payload is %v, want the message", payload)
	}
}

// An inbox row without payload that this version does not render (a kind it
// does not know, written by a later version) syncs as an empty object; it
// does not fail the whole page with a 500.
func TestSyncSurvivesRowWithoutPayload(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("pa"), e.newUser("pb")
	conv := a.direct(b)
	_, cursor := b.syncAll("")
	gen := idGen(t)
	msgID := mustID(t, a.mustSend(conv, "before the odd row")["id"].(string))
	odd := repo.Event{ID: gen.Next(), Kind: "message.reacted", ConvID: mustID(t, conv), MsgID: msgID}
	if err := e.store.AppendEvent(context.Background(), []int64{mustID(t, b.userID)}, odd); err != nil {
		t.Fatal(err)
	}
	b.syncUntil(cursor, "the row without payload never synced", func(events []map[string]any) bool {
		for _, ev := range events {
			if ev["type"] == "message.reacted" {
				if toJSON(ev["data"]) != "{}" {
					t.Fatalf("a row without payload synced as %s", toJSON(ev["data"]))
				}
				return true
			}
		}
		return false
	})
}

// A direct message's references are written only once its message row is:
// a row write that times out may still be applied later (a queued mutation, a
// hint), and a device whose cursor passed a reference while its row was
// missing would never get the message. Here the row write fails for good (its
// table is gone, in a keyspace of this test's own): the send is refused and
// no member's inbox holds a reference to it.
func TestReferenceIsWrittenOnlyAfterItsMessageRow(t *testing.T) {
	session, ks := cqltest.NewKeyspace(t, testLayout)
	e := newEnvOn(t, session)
	a, b := e.newUser("wa"), e.newUser("wb")
	conv := a.direct(b)
	last, _ := strconv.ParseInt(a.mustSend(conv, "before the fault")["id"].(string), 10, 64)
	admin, err := repo.Connect(cqltest.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Query(`DROP TABLE ` + ks + `.messages_by_conversation`).Exec(); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if r := a.send(conv, "c-fault", "never stored"); r.status < 500 {
		t.Fatalf("a send whose message row cannot be written answered %d %s", r.status, r.raw)
	}
	convID, _ := strconv.ParseInt(conv, 10, 64)
	for _, u := range []*client{a, b} {
		uid, _ := strconv.ParseInt(u.userID, 10, 64)
		for _, at := range []time.Time{before, time.Now()} {
			bucket := snowflake.Bucket(snowflake.MinIDAt(at), testLayout.InboxBucket.Milliseconds())
			iter := session.Query(`SELECT event_id, kind, conv_id, payload FROM inbox_by_user WHERE user_id = ? AND bucket = ?`, uid, bucket).Iter()
			var id, cid int64
			var kind string
			var payload *string
			for iter.Scan(&id, &kind, &cid, &payload) {
				if kind == repo.EventMessageNew && cid == convID && payload == nil && id > last {
					t.Fatalf("user %s's inbox holds reference %d of a message whose row was never written", u.userID, id)
				}
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A message's chat-list move is an unlogged batch: its list half (delete the
// row at the old activity, insert it at the new one: one partition) can land
// while its position half is lost. The next listing keeps the newer row and
// repairs the position to it, instead of reverting the row to the stale
// position (the newest activity wins, as for racing moves).
func TestListingRepairsAPositionOlderThanItsRow(t *testing.T) {
	session, _ := keyspace(t)
	e := newEnvOn(t, session)
	a, b := e.newUser("ha"), e.newUser("hb")
	conv := a.direct(b)
	convID := mustID(t, conv)
	uid := mustID(t, b.userID)
	a.mustSend(conv, "moves the row")
	chatList(t, b, "")
	section := repo.SectionOf(false, false)
	var old int64
	if err := session.Query(`SELECT activity_id FROM chat_positions WHERE user_id = ? AND conv_id = ?`, uid, convID).Scan(&old); err != nil {
		t.Fatal(err)
	}
	newer := idGen(t).Next()
	for _, q := range []struct {
		cql  string
		args []any
	}{
		{`DELETE FROM chats_by_activity WHERE user_id = ? AND section = ? AND activity_id = ? AND conv_id = ?`, []any{uid, section, old, convID}},
		{`INSERT INTO chats_by_activity (user_id, section, activity_id, conv_id) VALUES (?, ?, ?, ?)`, []any{uid, section, newer, convID}},
	} {
		if err := session.Query(q.cql, q.args...).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	if list := chatList(t, b, ""); len(list) != 1 || convIDOf(list[0]) != conv {
		t.Fatalf("b's list after the half move: %v", list)
	}
	var pos int64
	if err := session.Query(`SELECT activity_id FROM chat_positions WHERE user_id = ? AND conv_id = ?`, uid, convID).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	iter := session.Query(`SELECT activity_id FROM chats_by_activity WHERE user_id = ? AND section = ?`, uid, section).Iter()
	var rows []int64
	var at int64
	for iter.Scan(&at) {
		rows = append(rows, at)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if pos != newer || len(rows) != 1 || rows[0] != newer {
		t.Fatalf("after listing: position %d, rows %v; want both at the newer activity %d (was %d)", pos, rows, newer, old)
	}
}
