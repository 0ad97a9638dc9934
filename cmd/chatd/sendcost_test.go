package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

var queryCounts = regexp.MustCompile(`ringchat_cql_query_seconds_count\{table="([a-z_]+)"\} (\d+)`)

// cqlCounts is a node's /metrics count of CQL statements (a batch counts
// once, by its first statement's table) per table.
func cqlCounts(t *testing.T, node *testcluster.Node) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + node.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]int{}
	for _, m := range queryCounts.FindAllSubmatch(raw, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		out[string(m[1])] = n
	}
	return out
}

// backgroundTables are read by a node on its own clock (heartbeats, leases,
// the session end feed), whatever the traffic.
var backgroundTables = map[string]bool{"nodes": true, "snowflake_leases": true, "session_ends": true, "local": true, "peers": true}

// sendStatementBudget is what one direct message.send over WebSocket may
// cost in CQL statements once the node knows the conversation (issue 13;
// docs/benchmark.md lists them).
const sendStatementBudget = 4

// What one direct message.send over WebSocket costs in CQL statements on the
// real node, counted by chatd's own query metrics: the list docs/benchmark.md
// gives, and a bound on it.
func TestDirectSendStatements(t *testing.T) {
	node := testcluster.Start(t, nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour}))
	a := testcluster.Register(t, node, "sca")
	b := testcluster.Register(t, node, "scb")
	conv := a.Direct(b)
	sock := a.Dial()
	b.Dial()
	send := func(ref string) {
		t.Helper()
		if err := sock.Send("message.send", ref, map[string]any{"conversation_id": conv,
			"client_msg_id": testcluster.UUIDv7(time.Now()), "body": strings.Repeat("x", 1000)}); err != nil {
			t.Fatal(err)
		}
		if f := sock.Reply(10*time.Second, ref); f.Type != "ack" {
			t.Fatalf("send %s: %s %s", ref, f.Type, f.Data)
		}
	}
	send("warm") // the node reads the conversation and its members once
	const sends = 20
	before := cqlCounts(t, node)
	for i := range sends {
		send(fmt.Sprint("s", i))
	}
	after := cqlCounts(t, node)
	var tables []string
	total := 0
	for table, n := range after {
		if d := n - before[table]; d > 0 && !backgroundTables[table] {
			tables = append(tables, fmt.Sprintf("%s %.2f", table, float64(d)/sends))
			total += d
		}
	}
	sort.Strings(tables)
	perSend := float64(total) / sends
	t.Logf("CQL statements per direct send: %.2f (%s)", perSend, strings.Join(tables, ", "))
	if perSend > sendStatementBudget {
		t.Errorf("a direct send costs %.2f CQL statements, budget %d: %s", perSend, sendStatementBudget, strings.Join(tables, ", "))
	}
}

// A group send reads the group's row, not its member list, while the list a
// node read stands: its members version (schema v0015) is replaced by every
// change of the member set before the change is answered, on whichever node.
// Here the node that sends is not the node that removes: the removed member,
// connected to the sender's node, gets nothing sent after the removal was
// answered, and that node reads the list again once, then not again.
func TestGroupSendReadsMembersOnlyAfterTheyChange(t *testing.T) {
	env := nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	sender, other := testcluster.Start(t, env), testcluster.Start(t, env)
	a := testcluster.Register(t, sender, "gva")
	b := testcluster.Register(t, sender, "gvb")
	c := testcluster.Register(t, sender, "gvc")
	st, body := a.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "versions", "member_ids": []string{b.UserID, c.UserID}})
	if st != 201 {
		t.Fatalf("create group: %d %v", st, body)
	}
	conv := body["conversation"].(map[string]any)["id"].(string)
	sock, bs, cs := a.Dial(), b.Dial(), c.Dial()
	send := func(ref string) string {
		t.Helper()
		if err := sock.Send("message.send", ref, map[string]any{"conversation_id": conv,
			"client_msg_id": testcluster.UUIDv7(time.Now()), "body": "hello " + ref}); err != nil {
			t.Fatal(err)
		}
		f := sock.Reply(10*time.Second, ref)
		if f.Type != "ack" {
			t.Fatalf("send %s: %s %s", ref, f.Type, f.Data)
		}
		var ack struct{ Message struct{ ID string } }
		if err := json.Unmarshal(f.Data, &ack); err != nil || ack.Message.ID == "" {
			t.Fatalf("ack %s: %s", ref, f.Data)
		}
		return ack.Message.ID
	}
	memberReads := func(from map[string]int) int {
		return cqlCounts(t, sender)["members_by_conversation"] - from["members_by_conversation"]
	}

	send("warm") // the node reads the list once
	before := cqlCounts(t, sender)
	const sends = 10
	for i := range sends {
		send(fmt.Sprint("s", i))
	}
	if n := memberReads(before); n != 0 {
		t.Fatalf("%d sends into a group whose members did not change read its member list %d times, want 0", sends, n)
	}

	if st, body := a.On(other).Do("DELETE", "/v1/conversations/"+conv+"/members/"+c.UserID, nil); st != 204 {
		t.Fatalf("remove through the other node: %d %v", st, body)
	}
	before = cqlCounts(t, sender)
	after := send("after-removal")
	for i := range sends {
		send(fmt.Sprint("t", i))
	}
	if n := memberReads(before); n != 1 {
		t.Fatalf("after a removal through another node, %d sends read the member list %d times, want 1 (once, then the new list)", sends+1, n)
	}
	bs.WaitFor(10*time.Second, "the message sent after the removal, at a member", func([]testcluster.Frame) bool { return bs.MessageIDs()[after] == 1 })
	sock.WaitFor(10*time.Second, "the sender's own copy", func([]testcluster.Frame) bool { return sock.MessageIDs()[after] == 1 })
	if n := cs.MessageIDs()[after]; n != 0 {
		t.Fatalf("the removed member's socket got the message sent after the removal was answered (%d copies)", n)
	}
	events, _ := c.SyncOnce("")
	for _, e := range events {
		if e.MsgID == after {
			t.Fatalf("the removed member's sync returned the message sent after the removal: %+v", e)
		}
	}
}

// A group made before schema v0015 has no members version; its first send
// on a node writes one in the background, and from then on its sends read
// no member list either.
func TestGroupWithoutMembersVersionGetsOne(t *testing.T) {
	session, ks := cqltest.NewKeyspace(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	node := testcluster.Start(t, map[string]string{"RINGCHAT_CASSANDRA_HOSTS": strings.Join(cqltest.Hosts(), ","),
		"RINGCHAT_KEYSPACE": ks, "RINGCHAT_NODE_LEASE_TTL": "10s"})
	a := testcluster.Register(t, node, "gna")
	b := testcluster.Register(t, node, "gnb")
	st, body := a.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "old", "member_ids": []string{b.UserID}})
	if st != 201 {
		t.Fatalf("create group: %d %v", st, body)
	}
	conv := body["conversation"].(map[string]any)["id"].(string)
	convID, _ := strconv.ParseInt(conv, 10, 64)
	if err := session.Query(`UPDATE conversations SET members_version = null WHERE conv_id = ?`, convID).Exec(); err != nil {
		t.Fatal(err)
	}
	version := func() (v int64) {
		if err := session.Query(`SELECT members_version FROM conversations WHERE conv_id = ?`, convID).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	send := func(i int) {
		t.Helper()
		if st, _ := a.Send(conv, testcluster.UUIDv7(time.Now()), fmt.Sprint("m", i)); st != 201 {
			t.Fatalf("send %d: %d", i, st)
		}
	}
	send(0)
	for deadline := time.Now().Add(10 * time.Second); version() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a group without a members version still has none 10 s after a send")
		}
	}
	send(1) // reads the list under the new version
	before := cqlCounts(t, node)
	for i := range 5 {
		send(2 + i)
	}
	if n := cqlCounts(t, node)["members_by_conversation"] - before["members_by_conversation"]; n != 0 {
		t.Fatalf("once versioned, 5 sends read the member list %d times, want 0", n)
	}
}
