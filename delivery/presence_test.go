package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/delivery/ws"
)

// hasRoute reports whether the routes table names node c for userID.
func hasRoute(t *testing.T, c *Node, userID int64) bool {
	t.Helper()
	rs, err := c.store.Routes(context.Background(), []int64{userID})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[userID] {
		if r.NodeID == c.cfg.NodeID {
			return true
		}
	}
	return false
}

// A route refresh pass works from a snapshot of the connected users; users
// whose last socket closes after the snapshot (before or while the pass
// reaches them) keep no route and are not online, and users still
// connected get theirs rewritten.
func TestRouteRefreshSkipsUsersWhoseLastSocketClosed(t *testing.T) {
	store := testStore(t)
	name := fmt.Sprintf("refresh%08x", rand.Uint32())
	c := startNode(t, store, Config{Name: name, NodeID: 1, Instance: "i1", InternalAddr: "127.0.0.1:1"}, ws.Config{})
	t.Cleanup(func() { c.Stop(context.Background()) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := strconv.ParseInt(r.URL.Query().Get("u"), 10, 64)
		_ = c.hub.Serve(w, r, ws.Identity{UserID: u, DeviceID: 1}, noFrames{})
	}))
	defer srv.Close()
	dial := func(u int64) *websocket.Conn {
		conn, _, err := websocket.DefaultDialer.Dial("ws"+srv.URL[len("http"):]+"/?u="+strconv.FormatInt(u, 10), nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	base := rand.Int64N(1<<40) + 1
	const stay, leave = 20, 30
	conns := map[int64]*websocket.Conn{}
	for u := base; u < base+stay+leave; u++ {
		conns[u] = dial(u)
	}
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	waitUntil(t, 20*time.Second, "every connect hook ran", func() bool {
		for u := range conns {
			if c.socketCount(u) != 1 {
				return false
			}
		}
		return true
	})
	snapshot := c.hub.ConnectedUsers()
	ctx := context.Background()
	// The ones who stay lose their route (as to a failed write): the pass must rewrite it.
	for u := base; u < base+stay; u++ {
		if err := store.DeleteRoute(ctx, u, c.cfg.NodeID); err != nil {
			t.Fatal(err)
		}
	}
	// Half of the leavers are gone before the pass reaches them, half while it runs.
	leavers := make([]int64, 0, leave)
	for u := base + stay; u < base+stay+leave; u++ {
		leavers = append(leavers, u)
	}
	closeAll := func(us []int64) {
		for _, u := range us {
			conns[u].Close()
		}
	}
	closeAll(leavers[:leave/2])
	waitUntil(t, 20*time.Second, "the first leavers' disconnect hooks ran", func() bool {
		for _, u := range leavers[:leave/2] {
			if c.socketCount(u) != 0 {
				return false
			}
		}
		return true
	})
	done := make(chan struct{})
	go func() { defer close(done); c.refreshRoutesOf(snapshot) }()
	closeAll(leavers[leave/2:])
	<-done
	waitUntil(t, 20*time.Second, "every leaver's disconnect hook ran", func() bool {
		for _, u := range leavers {
			if c.socketCount(u) != 0 {
				return false
			}
		}
		return true
	})
	online, err := c.Online(ctx, leavers)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range leavers {
		if hasRoute(t, c, u) || online[u] {
			t.Errorf("user %d has no socket, yet route present %v, online %v", u, hasRoute(t, c, u), online[u])
		}
	}
	for u := base; u < base+stay; u++ {
		if !hasRoute(t, c, u) {
			t.Errorf("connected user %d: the refresh did not rewrite the route", u)
		}
	}
}

// presenceLog records the transitions of every node, in the order told.
type presenceLog struct {
	mu  sync.Mutex
	got []bool
}

func (l *presenceLog) record(user int64) func(int64, bool, time.Time) {
	return func(u int64, online bool, _ time.Time) {
		if u == user {
			l.mu.Lock()
			l.got = append(l.got, online)
			l.mu.Unlock()
		}
	}
}

func (l *presenceLog) all() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.got...)
}

// A user moves from node A to node B: A's last disconnect runs entirely
// between B's route write and B's read of the other routes (the window
// where, reading first, B saw A's route and kept quiet while A, not seeing
// B's, said offline). The last transition told is online.
func TestUserMovingBetweenNodesDoesNotEndOffline(t *testing.T) {
	store := testStore(t)
	name := fmt.Sprintf("move%08x", rand.Uint32())
	user := rand.Int64N(1<<50) + 1
	var log presenceLog
	a := startNode(t, store, Config{Name: name, NodeID: 1, Instance: "a", InternalAddr: "127.0.0.1:1", OnPresence: log.record(user)}, ws.Config{})
	b := startNode(t, store, Config{Name: name, NodeID: 2, Instance: "b", InternalAddr: "127.0.0.1:2", OnPresence: log.record(user)}, ws.Config{})
	t.Cleanup(func() { a.Stop(context.Background()); b.Stop(context.Background()) })
	ctx := context.Background()
	for _, c := range []*Node{a, b} {
		if err := c.refreshLive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	onA, onB := ws.Identity{UserID: user, DeviceID: 1}, ws.Identity{UserID: user, DeviceID: 1}
	a.Connected(onA)
	if got := log.all(); len(got) != 1 || !got[0] {
		t.Fatalf("after the connect on A: transitions %v, want [true]", got)
	}
	b.routeWritten = func(int64) { a.Disconnected(onA) }
	b.Connected(onB)
	got := log.all()
	if len(got) == 0 || !got[len(got)-1] {
		t.Fatalf("connected on B only, transitions %v: the last says offline", got)
	}
	if online, err := b.Online(ctx, []int64{user}); err != nil || !online[user] {
		t.Fatalf("Online: %v, %v", online, err)
	}
}

// Presence is told outside the user's lock: while one user's offline fan-out
// is stuck (slow audience reads), other users on the same lock stripe connect
// and disconnect, and the same user's next transition waits its turn so it is
// told after the offline, never before.
func TestPresenceFanOutHoldsNoUserLock(t *testing.T) {
	store := testStore(t)
	name := fmt.Sprintf("fanout%08x", rand.Uint32())
	user := rand.Int64N(1<<50) + 1
	other := user + 64 // same stripe
	var mu sync.Mutex
	var told []bool
	entered, release := make(chan struct{}), make(chan struct{})
	onPresence := func(u int64, online bool, _ time.Time) {
		if u != user {
			return
		}
		if !online {
			close(entered)
			<-release
		}
		mu.Lock()
		told = append(told, online)
		mu.Unlock()
	}
	c := startNode(t, store, Config{Name: name, NodeID: 1, Instance: "i1", InternalAddr: "127.0.0.1:1", OnPresence: onPresence}, ws.Config{})
	t.Cleanup(func() { c.Stop(context.Background()) })
	id := ws.Identity{UserID: user, DeviceID: 1}
	c.Connected(id)
	go c.Disconnected(id)
	<-entered
	// The fan-out is stuck: another user on the stripe still gets through.
	otherDone := make(chan struct{})
	go func() {
		defer close(otherDone)
		c.Connected(ws.Identity{UserID: other, DeviceID: 1})
		c.Disconnected(ws.Identity{UserID: other, DeviceID: 1})
	}()
	select {
	case <-otherDone:
	case <-time.After(20 * time.Second):
		close(release)
		t.Fatal("a connect on the same stripe waited for another user's presence fan-out")
	}
	// The user reconnects: the route is written at once, the online waits.
	back := make(chan struct{})
	go func() { defer close(back); c.Connected(id) }()
	waitUntil(t, 20*time.Second, "the reconnect's route write", func() bool { return hasRoute(t, c, user) })
	close(release)
	<-back
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 3 || !told[0] || told[1] || !told[2] {
		t.Fatalf("transitions %v, want [true false true]", told)
	}
}
