package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/delivery"
	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

// Multi-node tests: three real chatd processes on loopback ports, one Cassandra node.

const testSecret = "test-cluster-secret"

func clusterEnv(t *testing.T) map[string]string {
	env := nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Minute})
	env["RINGCHAT_CLUSTER_SECRET"] = testSecret
	env["RINGCHAT_NODE_TTL"] = "3s"
	return env
}

// waitRoutes polls until user has route hints (routes_by_user, written as a
// node gets its first socket of the user) on at least n nodes of node's
// keyspace: from then on a delivery through any node finds those sockets.
func waitRoutes(t *testing.T, node *testcluster.Node, userID string, n int) {
	t.Helper()
	s, err := repo.Connect(cqltest.Config(node.Env["RINGCHAT_KEYSPACE"]))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	uid, err := strconv.ParseInt(userID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got int
		if err := s.Query(`SELECT COUNT(*) FROM routes_by_user WHERE user_id = ?`, uid).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %s has route hints on %d nodes after 15 s, want %d", userID, got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startNodes(t *testing.T, env map[string]string, n int) []*testcluster.Node {
	nodes := make([]*testcluster.Node, n)
	for i := range nodes { // one by one: Start may fail the test, which only this goroutine may do
		nodes[i] = testcluster.Start(t, env)
	}
	return nodes
}

// Every connected device receives each message exactly once, live, whichever
// node it and the sender are on.
func TestThreeNodesDeliverAsOne(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 3)
	a := testcluster.Register(t, nodes[0], "cna")
	b := testcluster.Register(t, nodes[1], "cnb")
	c := testcluster.Register(t, nodes[2], "cnc")
	// Devices spread over the nodes: a on 0 and 1, b on 1 and 2, c on 2 and 0.
	devices := map[string][]*testcluster.Socket{}
	for _, d := range []struct {
		who  *testcluster.Client
		name string
		on   []int
	}{{a, "a", []int{0, 1}}, {b, "b", []int{1, 2}}, {c, "c", []int{2, 0}}} {
		for _, i := range d.on {
			devices[d.name] = append(devices[d.name], testcluster.Login(t, nodes[i], d.who.Handle).Dial())
		}
	}
	for _, u := range []*testcluster.Client{a, b, c} {
		waitRoutes(t, nodes[0], u.UserID, 2)
	}
	ab, bc, ca := a.Direct(b), b.Direct(c), c.Direct(a)
	sent := map[string][]string{} // user -> message ids they must see
	send := func(from *testcluster.Client, fromName, toName, conv string, via *testcluster.Node, i int) {
		st, id := from.On(via).Send(conv, fmt.Sprintf("%s-%d-%s", fromName, i, conv), "across nodes")
		if st != 201 {
			t.Fatalf("send: %d", st)
		}
		sent[fromName] = append(sent[fromName], id)
		sent[toName] = append(sent[toName], id)
	}
	for i := 0; i < 5; i++ {
		send(a, "a", "b", ab, nodes[i%3], i)
		send(b, "b", "c", bc, nodes[(i+1)%3], i)
		send(c, "c", "a", ca, nodes[(i+2)%3], i)
	}
	// A group of all three, written to through every node.
	st, body := a.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "trio", "member_ids": []string{b.UserID, c.UserID}})
	if st != 201 {
		t.Fatalf("create group: %d %v", st, body)
	}
	trio := body["conversation"].(map[string]any)["id"].(string)
	for i, from := range []*testcluster.Client{a, b, c, a, b, c} {
		st, id := from.On(nodes[(i+1)%3]).Send(trio, fmt.Sprintf("trio-%d", i), "to the group")
		if st != 201 {
			t.Fatalf("group send: %d", st)
		}
		for _, name := range []string{"a", "b", "c"} {
			sent[name] = append(sent[name], id)
		}
	}
	for name, socks := range devices {
		for k, s := range socks {
			want := sent[name]
			s.WaitFor(10*time.Second, fmt.Sprintf("%s device %d: %d messages", name, k, len(want)), func([]testcluster.Frame) bool {
				return len(s.MessageIDs()) >= len(want)
			})
		}
	}
	time.Sleep(500 * time.Millisecond) // room for any duplicate to show up
	for name, socks := range devices {
		for k, s := range socks {
			got := s.MessageIDs()
			for _, id := range sent[name] {
				if got[id] != 1 {
					t.Errorf("%s device %d got message %s %d times, want 1", name, k, id, got[id])
				}
			}
			if len(got) != len(sent[name]) {
				t.Errorf("%s device %d got %d messages, want %d", name, k, len(got), len(sent[name]))
			}
		}
	}
}

// A node that has just started gets live deliveries from an older node at
// once, not after the older node's next look at the registry (NodeTTL/3,
// here 20s).
func TestNewNodeReceivesAtOnce(t *testing.T) {
	env := clusterEnv(t)
	env["RINGCHAT_NODE_TTL"] = "60s"
	old := testcluster.Start(t, env)
	a, bob := testcluster.Register(t, old, "nna"), testcluster.Register(t, old, "nnb")
	conv := a.Direct(bob)
	newer := testcluster.Start(t, env)
	b := testcluster.Login(t, newer, bob.Handle).Dial()
	waitRoutes(t, newer, bob.UserID, 1)
	st, id := a.Send(conv, "to-the-new-node", "hello")
	if st != 201 {
		t.Fatalf("send: %d", st)
	}
	b.WaitFor(3*time.Second, "the message on the new node", func([]testcluster.Frame) bool { return b.MessageIDs()[id] == 1 })
}

// The internal endpoint answers only calls signed with the cluster secret for
// this process, fresh and new: the bearer secret itself, a forged, stale or
// replayed call is refused. The secret, given as a flag, shows neither at
// /debug/pprof/cmdline nor (given in the environment) in --help.
func TestInternalEndpointNeedsTheSecret(t *testing.T) {
	env := clusterEnv(t)
	const flagSecret = "flag-given-cluster-secret"
	delete(env, "RINGCHAT_CLUSTER_SECRET")
	node := testcluster.Start(t, env, "--cluster-secret="+flagSecret)
	instance := nodeInstance(t, env["RINGCHAT_KEYSPACE"])
	body := []byte(`{"items":[]}`)
	call := func(prepare func(*http.Request)) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+node.Internal+"/internal/v1/deliver", bytes.NewReader(body))
		prepare(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	signed := func(secret, target string, at time.Time) func(*http.Request) {
		return func(r *http.Request) { delivery.SignRequest(r, secret, target, body, at) }
	}
	var good http.Header
	for _, c := range []struct {
		name    string
		prepare func(*http.Request)
		want    int
	}{
		{"none", func(*http.Request) {}, 401},
		{"bearer secret", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+flagSecret) }, 401},
		{"forged", signed("not-the-secret-at-all", instance, time.Now()), 401},
		{"for another process", signed(flagSecret, "another-instance", time.Now()), 401},
		{"stale", signed(flagSecret, instance, time.Now().Add(-time.Minute)), 401},
		{"signed", func(r *http.Request) { signed(flagSecret, instance, time.Now())(r); good = r.Header.Clone() }, 204},
		{"replayed", func(r *http.Request) { r.Header = good.Clone() }, 401},
	} {
		if got := call(c.prepare); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	st, cmdline := get(t, "http://"+node.Admin+"/debug/pprof/cmdline")
	if strings.Contains(cmdline, flagSecret) {
		t.Errorf("/debug/pprof/cmdline shows the secret: %d %q", st, cmdline)
	}
	if logs := node.Logs(); strings.Contains(logs, flagSecret) {
		t.Errorf("the log shows the secret:\n%s", logs)
	}
	help := exec.Command(testcluster.Binary(t), "--help")
	help.Env = append(os.Environ(), "RINGCHAT_CLUSTER_SECRET="+flagSecret, "RINGCHAT_CASSANDRA_PASSWORD="+flagSecret, "RINGCHAT_S3_SECRET_KEY="+flagSecret)
	out, _ := help.CombinedOutput()
	if strings.Contains(string(out), flagSecret) || !strings.Contains(string(out), "cluster-secret") {
		t.Errorf("--help shows a secret from the environment (or no usage):\n%s", out)
	}
}

// nodeInstance is the instance of the one node registered in keyspace.
func nodeInstance(t *testing.T, keyspace string) string {
	t.Helper()
	s, err := repo.Connect(cqltest.Config(keyspace))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var instance string
	if err := s.Query(`SELECT instance FROM nodes WHERE cluster = 'default' LIMIT 1`).Scan(&instance); err != nil {
		t.Fatal(err)
	}
	return instance
}

// Presence across nodes: a partner on another node is told, and any node answers.
func TestPresenceAcrossNodes(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 3)
	a := testcluster.Register(t, nodes[0], "pra")
	b := testcluster.Register(t, nodes[1], "prb")
	a.Direct(b)
	watcher := b.Dial()
	waitRoutes(t, nodes[0], b.UserID, 1)
	query := func() map[string]any {
		st, body := b.On(nodes[2]).Do("GET", "/v1/presence?user_ids="+a.UserID, nil)
		if st != 200 {
			t.Fatalf("presence: %d %v", st, body)
		}
		return body["presence"].([]any)[0].(map[string]any)
	}
	if p := query(); p["online"] != false {
		t.Fatalf("a is online before connecting: %v", p)
	}
	conn := a.Dial()
	watcher.WaitFor(10*time.Second, "presence online", func(fs []testcluster.Frame) bool { return hasPresence(fs, a.UserID, true) })
	if p := query(); p["online"] != true {
		t.Fatalf("a not online while connected: %v", p)
	}
	conn.Close() // a's only socket leaves
	watcher.WaitFor(10*time.Second, "presence offline", func(fs []testcluster.Frame) bool { return hasPresence(fs, a.UserID, false) })
	if p := query(); p["online"] != false || p["last_seen"] == nil {
		t.Fatalf("after leaving: %v", p)
	}
}

func hasPresence(fs []testcluster.Frame, user string, online bool) bool {
	for _, f := range fs {
		if f.Type != "presence" {
			continue
		}
		var p struct {
			UserID string `json:"user_id"`
			Online bool   `json:"online"`
		}
		_ = json.Unmarshal(f.Data, &p)
		if p.UserID == user && p.Online == online {
			return true
		}
	}
	return false
}

// SIGTERM: sockets close with 1012, in-flight work finishes, the node leaves the
// registry, and the process exits cleanly within the bound.
func TestGracefulShutdown(t *testing.T) {
	env := clusterEnv(t)
	nodes := startNodes(t, env, 2)
	a := testcluster.Register(t, nodes[0], "gsa")
	b := testcluster.Register(t, nodes[1], "gsb")
	conv := a.Direct(b)
	sock := a.Dial()
	waitRoutes(t, nodes[0], a.UserID, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := nodes[0].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 16*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	if err := sock.Closed(5 * time.Second); !websocket.IsCloseError(err, websocket.CloseServiceRestart) {
		t.Fatalf("socket ended with %v, want close 1012", err)
	}
	// The other node no longer lists it, without waiting for a TTL.
	st, _ := b.Send(conv, "after-shutdown", "still works")
	if st != 201 {
		t.Fatalf("surviving node: send %d", st)
	}
	ks := env["RINGCHAT_KEYSPACE"]
	s, err := repo.Connect(cqltest.Config(ks))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.Query(`SELECT COUNT(*) FROM nodes WHERE cluster = 'default'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d nodes registered in %s after one of two stopped, want 1", n, ks)
	}
}

// kill -9 of a node while senders keep sending: its clients reconnect to
// another node and sync; no acknowledged message is lost, repeats carry the
// same id, and the dead node stops counting (routes, presence) within its TTL.
func TestNodeFailure(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 3)
	victim, n1, n2 := nodes[0], nodes[1], nodes[2]
	r := testcluster.Register(t, victim, "nfr") // the receiver's device lives on the victim
	s1 := testcluster.Register(t, n1, "nfa")
	s2 := testcluster.Register(t, n2, "nfb")
	c1, c2 := s1.Direct(r), s2.Direct(r)
	_, cursor := r.SyncOnce("")
	live := r.Dial()
	waitRoutes(t, victim, r.UserID, 1)

	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k, s := range []struct {
		c    *testcluster.Client
		conv string
	}{{s1, c1}, {s2, c2}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if st, id := s.c.Send(s.conv, fmt.Sprintf("nf-%d-%d", k, i), "keep going"); st == 201 {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second) // a second of sends before the kill: the scenario
	killedAt := time.Now()
	victim.Kill()
	if err := live.Closed(5 * time.Second); err == nil {
		t.Fatal("the dead node's socket did not end")
	}
	// The receiver's app reconnects to a surviving node and syncs from its cursor.
	r2 := r.On(n1)
	again := r2.Dial()
	// The dead node's route stops counting: r shows online only through its new socket,
	// and a user whose only socket was on the dead node goes offline within the TTL.
	time.Sleep(2 * time.Second) // sends go on 2 s after the kill: the scenario
	close(stop)
	wg.Wait()
	events, _ := r2.SyncSettled(cursor)
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.MsgID] = true
	}
	for id := range live.MessageIDs() {
		seen[id] = true
	}
	for id := range again.MessageIDs() {
		seen[id] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d sends acknowledged: the senders stalled", len(acked))
	}
	lost := 0
	for id := range acked {
		if !seen[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages never reached the receiver", lost, len(acked))
	}
	t.Logf("%d acknowledged around a kill -9 at %s; all reached the receiver by socket or sync", len(acked), killedAt.Format("15:04:05.000"))
}

// waitOnline polls until asker's node shows user online (the user's route is
// readable there); asker must be allowed to see the user's presence.
func waitOnline(t *testing.T, asker *testcluster.Client, userID string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, body := asker.Do("GET", "/v1/presence?user_ids="+userID, nil)
		if st == 200 && body["presence"].([]any)[0].(map[string]any)["online"] == true {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %s never shows online through %s: %d %v", userID, asker.Base, st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A user whose only socket was on a killed node reads as offline within the node TTL.
func TestDeadNodeStopsCountingWithinTTL(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 2)
	u := testcluster.Register(t, nodes[0], "dnu")
	asker := testcluster.Register(t, nodes[1], "dna")
	asker.Direct(u) // presence is shown to contacts and DM partners only
	u.Dial()
	online := func() bool {
		st, body := asker.Do("GET", "/v1/presence?user_ids="+u.UserID, nil)
		if st != 200 {
			t.Fatalf("presence %d", st)
		}
		return body["presence"].([]any)[0].(map[string]any)["online"] == true
	}
	deadline := time.Now().Add(15 * time.Second)
	for !online() {
		if time.Now().After(deadline) {
			t.Fatal("never online")
		}
		time.Sleep(100 * time.Millisecond)
	}
	nodes[0].Kill()
	start := time.Now()
	for online() {
		if time.Since(start) > 3*time.Second+2*time.Second { // TTL 3 s, plus one list refresh
			t.Fatal("a route to the dead node still counts after its TTL")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("offline %s after the kill (node TTL 3s)", time.Since(start).Round(100*time.Millisecond))
}

// Revoking a device through one node closes its sockets on the others too
// (1008), while the user's other devices stay connected.
func TestRevokeClosesTheDeviceOnEveryNode(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 2)
	a := testcluster.Register(t, nodes[0], "rva")
	lost := testcluster.Login(t, nodes[1], a.Handle) // the device to revoke, connected to node 1
	lostSock := lost.Dial()
	keptSock := a.On(nodes[1]).Dial()
	waitRoutes(t, nodes[0], a.UserID, 1)
	if st, body := a.Do("DELETE", "/v1/me/devices/"+lost.DeviceID, nil); st != 204 {
		t.Fatalf("revoke through node 0: %d %v", st, body)
	}
	err := lostSock.Closed(10 * time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1008 {
		t.Fatalf("the revoked device's socket on node 1: %v; want closed with 1008", err)
	}
	if err := keptSock.Closed(500 * time.Millisecond); err != nil {
		t.Fatalf("another device of the same user was closed too: %v", err)
	}
}

// Many devices of one user connect to one node at the same moment; a message
// sent through another node reaches every one of them live (the route hint
// is written whatever order their connect hooks run in).
func TestSimultaneousDevicesGetCrossNodeMessages(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 2)
	u := testcluster.Register(t, nodes[0], "sdu")
	sender := testcluster.Register(t, nodes[1], "sds")
	conv := sender.Direct(u)
	devices := []*testcluster.Client{u}
	for range 7 {
		devices = append(devices, testcluster.Login(t, nodes[0], u.Handle))
	}
	socks := make([]*testcluster.Socket, len(devices))
	errs := make([]error, len(devices))
	var wg sync.WaitGroup
	for i, d := range devices {
		wg.Add(1)
		go func() { defer wg.Done(); socks[i], errs[i] = d.DialE() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Poll: sent once the user shows online through the other node (the route is read there).
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := sender.Do("GET", "/v1/presence?user_ids="+u.UserID, nil)
		if st == 200 && body["presence"].([]any)[0].(map[string]any)["online"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the user never shows online on the other node: %d %v", st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, id := sender.Send(conv, "sd-1", "to every device")
	if st != 201 {
		t.Fatalf("send: %d", st)
	}
	for i, s := range socks {
		s.WaitFor(10*time.Second, fmt.Sprintf("device %d: the message from the other node", i), func([]testcluster.Frame) bool {
			return s.MessageIDs()[id] == 1
		})
	}
}
