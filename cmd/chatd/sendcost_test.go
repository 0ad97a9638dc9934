package main

import (
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
