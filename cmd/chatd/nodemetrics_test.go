package main

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
)

// sample reads one series' value from a scrape; ok is false when the series
// is absent.
func sample(metrics, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func mustSample(t *testing.T, metrics, series string) float64 {
	t.Helper()
	v, ok := sample(metrics, series)
	if !ok {
		t.Fatalf("no series %s in the scrape", series)
	}
	return v
}

// waitSample polls a node's scrape until series satisfies cond.
func waitSample(t *testing.T, node *testcluster.Node, series, what string, cond func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, ok := sample(scrape(t, node), series)
		if ok && cond(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %v (present %v) after 20 s", what, series, v, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The metrics the node alerts read (deploy/monitoring/alerts.yaml) move with
// what they describe: deliveries local and forwarded each counted once per
// node whose sockets took the message, sends by transport and result, the
// registry's size as each node sees it, and the lease's remaining trust.
func TestDeliverySendsRegistryAndLeaseMetrics(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 2)
	a := testcluster.Register(t, nodes[0], "nma")
	b := testcluster.Register(t, nodes[1], "nmb")
	aSock, bSock := a.Dial(), b.On(nodes[1]).Dial()
	waitRoutes(t, nodes[0], a.UserID, 1)
	waitRoutes(t, nodes[0], b.UserID, 1)
	for i, n := range nodes {
		m := scrape(t, n)
		for _, series := range []string{
			`ringchat_delivery_seconds_count{path="local"}`, `ringchat_delivery_seconds_count{path="forwarded"}`,
			`ringchat_sends_total{result="ok",transport="rest"}`, `ringchat_sends_total{result="unavailable",transport="ws"}`,
			`ringchat_sends_total{result="internal",transport="rest"}`, `ringchat_node_heartbeat_failures_total`,
			`ringchat_node_lease_renewal_failures_total`,
		} {
			if v := mustSample(t, m, series); v != 0 {
				t.Errorf("node %d before any send: %s = %v, want 0", i, series, v)
			}
		}
		// The lease is trusted for TTL (30 s) minus half a renewal period at most.
		if v := mustSample(t, m, "ringchat_node_lease_trusted_seconds"); v <= 0 || v > 30 {
			t.Errorf("node %d: ringchat_node_lease_trusted_seconds = %v, want in (0, 30]", i, v)
		}
	}
	// The newer node read a registry holding both; the older one learns of
	// the newer when a route names it (or at its next refresh).
	waitSample(t, nodes[1], "ringchat_cluster_nodes", "the second node's registry", func(v float64) bool { return v == 2 })

	conv := a.Direct(b)
	// Through node 0 by REST: a's socket there (local), b's on node 1 (forwarded).
	if st, _ := a.Send(conv, "nm-rest", "over rest"); st != 201 {
		t.Fatalf("rest send: %d", st)
	}
	// Through node 1 by WebSocket: b's socket there (local), a's on node 0 (forwarded).
	if err := bSock.Send("message.send", "s1", map[string]any{"conversation_id": conv, "client_msg_id": "nm-ws", "body": "over ws"}); err != nil {
		t.Fatal(err)
	}
	if f := bSock.Reply(10*time.Second, "s1"); f.Type != "ack" {
		t.Fatalf("ws send answered %+v", f)
	}
	for _, s := range []*testcluster.Socket{aSock, bSock} {
		s.WaitFor(10*time.Second, "both messages", func([]testcluster.Frame) bool { return len(s.MessageIDs()) == 2 })
	}
	// Refused sends count under the code they were answered with.
	if st, _ := a.Do("POST", "/v1/conversations/not-an-id/messages", map[string]any{"client_msg_id": "nm-bad", "body": "x"}); st != 400 {
		t.Fatalf("rest send to a malformed id: %d", st)
	}
	if err := bSock.Send("message.send", "s2", map[string]any{"conversation_id": "nope", "client_msg_id": "nm-bad", "body": "x"}); err != nil {
		t.Fatal(err)
	}
	if f := bSock.Reply(10*time.Second, "s2"); f.Type != "error" {
		t.Fatalf("ws send to a malformed id answered %+v", f)
	}
	waitSample(t, nodes[0], "ringchat_cluster_nodes", "the first node's registry after forwarding", func(v float64) bool { return v == 2 })

	for i, n := range nodes {
		m := scrape(t, n)
		for _, path := range []string{"local", "forwarded"} {
			count := mustSample(t, m, `ringchat_delivery_seconds_count{path="`+path+`"}`)
			sum := mustSample(t, m, `ringchat_delivery_seconds_sum{path="`+path+`"}`)
			if count != 1 {
				t.Errorf("node %d: %s deliveries counted %v, want 1 (one message took each path here)", i, path, count)
			}
			// Ages in seconds from the id's time: not milliseconds, not since the epoch.
			if sum < 0 || sum > 60 {
				t.Errorf("node %d: %s delivery age %v s, want a few ms (the units are wrong)", i, path, sum)
			}
		}
	}
	m0, m1 := scrape(t, nodes[0]), scrape(t, nodes[1])
	for _, c := range []struct {
		metrics, series string
		want            float64
	}{
		{m0, `ringchat_sends_total{result="ok",transport="rest"}`, 1},
		{m0, `ringchat_sends_total{result="invalid_argument",transport="rest"}`, 1},
		{m0, `ringchat_sends_total{result="ok",transport="ws"}`, 0},
		{m1, `ringchat_sends_total{result="ok",transport="ws"}`, 1},
		{m1, `ringchat_sends_total{result="invalid_argument",transport="ws"}`, 1},
		{m1, `ringchat_sends_total{result="ok",transport="rest"}`, 0},
	} {
		if got := mustSample(t, c.metrics, c.series); got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}

	// A node that leaves deregisters: the other's count falls at its next
	// read of the registry (every NodeTTL/3, 1 s here).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := nodes[1].Stop(ctx); err != nil {
		t.Fatalf("stop node 1: %v", err)
	}
	waitSample(t, nodes[0], "ringchat_cluster_nodes", "the registry after node 1 left", func(v float64) bool { return v == 1 })
}
