package delivery

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

// The tests share one keyspace; each works in its own cluster name and users.
var shared = cqltest.NewShared("cluster", schema.DefaultSettings())

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

func testStore(t *testing.T) *repo.Store {
	t.Helper()
	return repo.NewStore(shared.Session(t), repo.Layout{MessageBucket: time.Hour, InboxBucket: time.Minute}, repo.DefaultRetention())
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// peer is a stand-in for another node's internal listener: it counts the
// users of the items it is sent. hang, when set, holds every call until
// the test ends (a node that stopped answering).
type peer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  map[int64]int
	hang chan struct{}
	// hung counts calls that reached a hanging peer, so a test can wait
	// for a call to be in flight instead of sleeping for it.
	hung atomic.Int64
}

func newPeer(t *testing.T, hang bool) *peer {
	p := &peer{got: map[int64]int{}}
	if hang {
		p.hang = make(chan struct{})
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.hang != nil {
			p.hung.Add(1)
			select {
			case <-p.hang:
			case <-r.Context().Done():
			}
			return
		}
		var b batch
		if err := jsonDecode(r.Body, &b); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		for _, it := range b.Items {
			for _, u := range it.UserIDs {
				p.got[u]++
			}
		}
		p.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() {
		if p.hang != nil {
			close(p.hang)
		}
		p.srv.Close()
	})
	return p
}

// waitHung polls until n calls hang at the peer.
func (p *peer) waitHung(t *testing.T, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); p.hung.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d calls reached the hung peer", p.hung.Load(), n)
		}
	}
}

func (p *peer) addr() string { return p.srv.Listener.Addr().String() }

func (p *peer) received(u int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.got[u]
}

// startTestCluster starts node 0 of cluster name; the test stops it.
func startTestCluster(t *testing.T, store *repo.Store, name string) *Node {
	return startNode(t, store, Config{Name: name, NodeID: 0, Instance: "self", InternalAddr: "127.0.0.1:1"}, ws.Config{})
}

// startNode starts a cluster member with its own hub (wsCfg's hooks are
// wrapped around the member's); the test stops it.
func startNode(t *testing.T, store *repo.Store, cfg Config, wsCfg ws.Config) *Node {
	log := quietLog()
	cfg.Secret, cfg.NodeTTL, cfg.Log = "s", time.Minute, log
	var c *Node
	before, after := wsCfg.OnConnect, wsCfg.OnDisconnect
	wsCfg.OnConnect = func(id ws.Identity) {
		if before != nil {
			before(id)
		}
		c.Connected(id)
	}
	wsCfg.OnDisconnect = func(id ws.Identity) {
		if after != nil {
			after(id)
		}
		c.Disconnected(id)
	}
	c = New(cfg, store, ws.NewHub(wsCfg, log))
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}
