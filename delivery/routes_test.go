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
	"github.com/ringchat/ringchat/repo"
)

type noFrames struct{}

func (noFrames) HandleFrame(context.Context, *ws.Client, ws.Frame) {}

// socketNode is a cluster member whose hub serves real WebSockets (device id
// in ?d=) and whose internal listener is real, so other members forward to it.
type socketNode struct {
	c        *Node
	ws       *httptest.Server
	user     int64
	mu       sync.Mutex
	presence []bool // the online/offline transitions reported for user, in order
}

func startSocketNode(t *testing.T, store *repo.Store, name string, id int, user int64, wsCfg ws.Config) *socketNode {
	n := &socketNode{user: user}
	internal := httptest.NewUnstartedServer(nil)
	cfg := Config{Name: name, NodeID: id, Instance: fmt.Sprintf("i%d", id), InternalAddr: internal.Listener.Addr().String(),
		OnPresence: func(u int64, online bool, _ time.Time) {
			if u == user {
				n.mu.Lock()
				n.presence = append(n.presence, online)
				n.mu.Unlock()
			}
		}}
	n.c = startNode(t, store, cfg, wsCfg)
	internal.Config.Handler = n.c.InternalHandler()
	internal.Start()
	n.ws = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := strconv.ParseInt(r.URL.Query().Get("d"), 10, 64)
		_ = n.c.hub.Serve(w, r, ws.Identity{UserID: user, DeviceID: d}, noFrames{})
	}))
	t.Cleanup(func() {
		n.ws.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.c.hub.Shutdown(ctx)
		n.c.Stop(ctx)
		internal.Close()
	})
	return n
}

func (n *socketNode) dial(device int) (*websocket.Conn, error) {
	url := "ws" + n.ws.URL[len("http"):] + "/?d=" + strconv.Itoa(device)
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	return conn, err
}

func (n *socketNode) transitions() []bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]bool(nil), n.presence...)
}

// routed reports whether the routes table names this node for its user.
func (n *socketNode) routed(t *testing.T) bool {
	rs, err := n.c.store.Routes(context.Background(), []int64{n.user})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[n.user] {
		if r.NodeID == n.c.cfg.NodeID && r.Instance == n.c.cfg.Instance {
			return true
		}
	}
	return false
}

// Many devices of one user connect at the same moment (their sockets are all
// registered before any connect hook runs, as under load): the route is
// written, the user comes online once, and a message sent through another
// node reaches every device. Before the fix each hook saw several sockets and
// none wrote the route.
func TestSimultaneousConnectsOfOneUserWriteTheRoute(t *testing.T) {
	store := testStore(t)
	name := fmt.Sprintf("conn%08x", rand.Uint32())
	user := rand.Int64N(1<<50) + 1
	gate := make(chan struct{})
	n := startSocketNode(t, store, name, 1, user, ws.Config{OnConnect: func(ws.Identity) { <-gate }})
	sender := startTestCluster(t, store, name) // node 0: another node
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sender.Stop(ctx)
	}()

	const devices = 12
	conns := make([]*websocket.Conn, devices)
	errs := make([]error, devices)
	var wg sync.WaitGroup
	for d := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); conns[d], errs[d] = n.dial(d + 1) }()
	}
	wg.Wait()
	for d, err := range errs {
		if err != nil {
			t.Fatalf("dial device %d: %v", d+1, err)
		}
		defer conns[d].Close()
	}
	waitUntil(t, 10*time.Second, "every socket registered", func() bool { return len(n.c.hub.ConnectedDevices(user)) == devices })
	close(gate)
	waitUntil(t, 10*time.Second, "the route written", func() bool { return n.routed(t) })
	waitUntil(t, 10*time.Second, "the user online", func() bool { return len(n.transitions()) > 0 })
	if got := n.transitions(); len(got) != 1 || !got[0] {
		t.Fatalf("presence transitions %v, want one: online", got)
	}

	sender.Deliver([]int64{user}, []byte(`{"type":"message.new","data":{"id":"42"}}`))
	for d, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, msg, err := conn.ReadMessage(); err != nil {
			t.Fatalf("device %d never got the message from the other node: %v", d+1, err)
		} else if string(msg) != `{"type":"message.new","data":{"id":"42"}}` {
			t.Fatalf("device %d got %s", d+1, msg)
		}
	}
}

// Rounds of connects and disconnects of one user's devices, all at once and
// with their hooks delayed at random: once the hooks have run, the route
// exists exactly when a socket is open, and the last presence transition
// says online exactly then.
func TestConnectDisconnectInterleavingsKeepRouteAndPresence(t *testing.T) {
	store := testStore(t)
	name := fmt.Sprintf("inter%08x", rand.Uint32())
	user := rand.Int64N(1<<50) + 1
	jitter := func(ws.Identity) {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	}
	cfg := ws.Config{OnConnect: jitter, OnDisconnect: jitter}
	n := startSocketNode(t, store, name, 1, user, cfg)
	open := map[int]*websocket.Conn{}
	next := 1
	for round := 0; round < 12; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		// Close some (in round 5 and the last, all), open some (none in those).
		for d, conn := range open {
			if round == 5 || round == 11 || rand.IntN(2) == 0 {
				delete(open, d)
				wg.Add(1)
				go func() { defer wg.Done(); conn.Close() }()
			}
		}
		opens := 1 + rand.IntN(4)
		if round == 5 || round == 11 {
			opens = 0
		}
		for range opens {
			d := next
			next++
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := n.dial(d)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				mu.Lock()
				open[d] = conn
				mu.Unlock()
			}()
		}
		wg.Wait()
		want := len(open)
		waitUntil(t, 10*time.Second, fmt.Sprintf("round %d: hooks settled with %d sockets", round, want), func() bool {
			return n.c.socketCount(user) == want && len(n.c.hub.ConnectedDevices(user)) == want
		})
		if got := n.routed(t); got != (want > 0) {
			t.Fatalf("round %d: %d sockets open, route present: %v", round, want, got)
		}
		tr := n.transitions()
		if len(tr) == 0 || tr[len(tr)-1] != (want > 0) {
			t.Fatalf("round %d: %d sockets open, presence transitions %v", round, want, tr)
		}
		for i := 1; i < len(tr); i++ {
			if tr[i] == tr[i-1] {
				t.Fatalf("round %d: presence transitions %v repeat", round, tr)
			}
		}
	}
	for _, conn := range open {
		conn.Close()
	}
}

// socketCount is how many of userID's sockets have connected and not yet
// disconnected, as the hooks saw them.
func (c *Node) socketCount(userID int64) int {
	counts, unlock := c.lock(userID)
	defer unlock()
	return counts[userID]
}
