package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
)

// countByClientID reads a conversation's history and counts each client_msg_id.
func countByClientID(t *testing.T, c *testcluster.Client, conv string) map[string][]string {
	t.Helper()
	st, body := c.Do("GET", "/v1/conversations/"+conv+"/messages?limit=100", nil)
	if st != 200 {
		t.Fatalf("history: %d %v", st, body)
	}
	out := map[string][]string{}
	for _, m := range body["messages"].([]any) {
		msg := m.(map[string]any)
		cid := msg["client_msg_id"].(string)
		out[cid] = append(out[cid], msg["id"].(string))
	}
	return out
}

var dedupeQueries = regexp.MustCompile(`ringchat_cql_query_seconds_count\{table="send_dedupe"\} (\d+)`)

// sendDedupeQueries is what a node's /metrics counts of send_dedupe queries.
func sendDedupeQueries(t *testing.T, node *testcluster.Node) string {
	t.Helper()
	resp, err := http.Get("http://" + node.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := dedupeQueries.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	return "0"
}

// Guarantee 2 across nodes without a lightweight transaction: the same UUIDv7
// send through two chatd processes at once is one message; both acks carry
// its id, and neither node queries send_dedupe.
func TestUUIDv7RetriesThroughTwoNodesAreOneMessage(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 2)
	a := testcluster.Register(t, nodes[0], "u7a")
	b := testcluster.Register(t, nodes[1], "u7b")
	conv := a.Direct(b)
	via := []*testcluster.Client{a, a.On(nodes[1])}
	const sends = 20
	ids := make([][2]string, sends)
	for i := range ids {
		cid := testcluster.UUIDv7(time.Now())
		var wg sync.WaitGroup
		for n := range via {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, id := via[n].Send(conv, cid, fmt.Sprintf("twice %d", i))
				if st != 201 && st != 200 {
					t.Errorf("send %d via node %d: %d", i, n, st)
				}
				ids[i][n] = id
			}()
		}
		wg.Wait()
		if ids[i][0] != ids[i][1] {
			t.Fatalf("send %d: node 0 acked %s, node 1 %s", i, ids[i][0], ids[i][1])
		}
	}
	history := countByClientID(t, b, conv)
	if len(history) != sends {
		t.Fatalf("history holds %d distinct sends, want %d", len(history), sends)
	}
	for cid, got := range history {
		if len(got) != 1 {
			t.Fatalf("history holds %d copies of %s", len(got), cid)
		}
	}
	for i, n := range nodes {
		if q := sendDedupeQueries(t, n); q != "0" {
			t.Errorf("node %d made %s send_dedupe queries for UUIDv7 sends", i, q)
		}
	}
}

// A node killed after writing a UUIDv7 send and before acknowledging it: the
// client's retry through another node, at once and after the fresh window,
// returns that message; history holds one.
func TestUUIDv7SendKilledBeforeAckIsOneMessage(t *testing.T) {
	env := clusterEnv(t)
	stalled := testcluster.Start(t, env, "--debug-ack-delay", "30s")
	other := testcluster.Start(t, env)
	a := testcluster.Register(t, stalled, "k7a")
	b := testcluster.Register(t, other, "k7b")
	conv := a.Direct(b)
	sentAt := time.Now()
	cid := testcluster.UUIDv7(sentAt)
	go func() { _, _ = a.Send(conv, cid, "written, never acked") }()
	deadline := time.Now().Add(20 * time.Second)
	var written []string
	for len(written) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stalled node never wrote the message")
		}
		written = countByClientID(t, b, conv)[cid]
		time.Sleep(20 * time.Millisecond)
	}
	stalled.Kill()
	retry := a.On(other)
	for _, late := range []bool{false, true} { // fresh, then late (window 1 s)
		for late && time.Since(sentAt) <= 1200*time.Millisecond { // until the id is past the window
			time.Sleep(20 * time.Millisecond)
		}
		st, id := retry.Send(conv, cid, "written, never acked")
		if (st != 201 && st != 200) || id != written[0] {
			t.Fatalf("retry (late: %v, %s after the id's time): %d, id %s; the killed node wrote %s", late, time.Since(sentAt), st, id, written[0])
		}
	}
	if got := countByClientID(t, b, conv)[cid]; len(got) != 1 {
		t.Fatalf("history holds %d copies of one send", len(got))
	}
}
