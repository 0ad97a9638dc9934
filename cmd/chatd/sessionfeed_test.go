package main

import (
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/internal/testcluster"
)

// Two chatd processes without a cluster secret, so no close order ever
// goes from one to the other. Node "checking" re-checks each socket's own
// session every second (if it did, its idle sockets would read the sessions
// table about N times a second); node "feedOnly" every ten minutes (only the
// feed of ended sessions can close its sockets in time).
func TestSessionEndsReachEveryNodeWithoutCloseOrdersOrPerSocketReads(t *testing.T) {
	env := clusterEnv(t)
	delete(env, "RINGCHAT_CLUSTER_SECRET")
	env["RINGCHAT_SESSION_END_BOUND"] = "2s"
	env["RINGCHAT_WS_SESSION_CHECK_INTERVAL"] = "1s"
	checking := testcluster.Start(t, env)
	feedEnv := map[string]string{}
	for k, v := range env {
		feedEnv[k] = v
	}
	feedEnv["RINGCHAT_WS_SESSION_CHECK_INTERVAL"] = "10m"
	feedOnly := testcluster.Start(t, feedEnv)

	// An idle node with N sockets reads no session per socket.
	const n = 200
	a := testcluster.Register(t, checking, "sfa")
	admin := "http://" + checking.Admin
	sessionReads := func() float64 { return metric(t, admin, `ringchat_cql_query_seconds_count{table="sessions"}`) }
	start := sessionReads()
	for range n {
		a.Dial()
	}
	// Each socket reads its session twice while it is set up: authenticating
	// the upgrade, and once registered. Then nothing more.
	waitQueries(t, "checking", sessionReads, start+2*n)
	before, feedBefore := sessionReads(), metric(t, admin, `ringchat_cql_query_seconds_count{table="session_ends"}`)
	const window = 5 * time.Second // five of the node's re-check intervals: a measurement, not a wait
	time.Sleep(window)
	after, feedAfter := sessionReads(), metric(t, admin, `ringchat_cql_query_seconds_count{table="session_ends"}`)
	t.Logf("%d idle sockets, %s: %v session reads, %v feed reads", n, window, after-before, feedAfter-feedBefore)
	if after != before {
		t.Errorf("%d idle sockets read the sessions table %v times in %s; want 0 (the feed vouches for them); failed feed reads %v\n%s",
			n, after-before, window, metric(t, admin, `ringchat_cql_errors_total{table="session_ends"}`), checking.Logs())
	}
	if feedAfter-feedBefore < 3 {
		t.Errorf("the node read the feed of ended sessions %v times in %s; want one every half second", feedAfter-feedBefore, window)
	}

	// A logout through one node closes the session's socket on the other,
	// with no close order and no own re-check, within the bound.
	leaving := testcluster.Login(t, feedOnly, a.Handle)
	feedAdmin := "http://" + feedOnly.Admin
	feedSessionReads := func() float64 { return metric(t, feedAdmin, `ringchat_cql_query_seconds_count{table="sessions"}`) }
	start = feedSessionReads()
	sock := leaving.Dial()
	// Past the socket's set-up check, which would close it by itself.
	waitQueries(t, "feedOnly", feedSessionReads, start+2)
	began := time.Now()
	if st, body := leaving.On(checking).Do("POST", "/v1/auth/logout", nil); st != 204 {
		t.Fatalf("logout through the other node: %d %v", st, body)
	}
	var ce *websocket.CloseError
	if err := sock.Closed(15 * time.Second); !errors.As(err, &ce) || ce.Code != 1008 {
		t.Fatalf("the logged-out session's socket on the other node: %v; want closed with 1008", err)
	}
	// Bound 2 s: a read every half second; slack for a loaded test machine.
	if took := time.Since(began); took > 6*time.Second {
		t.Fatalf("the socket on the other node closed %s after the logout; bound 2 s", took)
	}
}

// waitQueries polls count until it reaches want.
func waitQueries(t *testing.T, node string, count func() float64, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %v queries after 60 s, want %v", node, count(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric reads one series' value from a node's /metrics (0 when absent).
func metric(t *testing.T, admin, series string) float64 {
	t.Helper()
	_, body := get(t, admin+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}
