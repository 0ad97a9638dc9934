package delivery

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// A delivery to a large group is looked up in chunks: every user once, no
// chunk over routeChunk, so one slow read drops at most one chunk's live copies.
func TestLargeDeliveriesAreLookedUpInChunks(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := New(Config{Secret: "s", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	users := make([]int64, 2*routeChunk+50)
	for i := range users {
		users[i] = int64(i + 1)
	}
	c.Deliver(users, []byte(`{}`))
	seen := map[int64]int{}
	chunks := 0
	for len(c.deliveries) > 0 {
		d := <-c.deliveries
		chunks++
		if len(d.users) > routeChunk {
			t.Fatalf("a look-up of %d users; at most %d", len(d.users), routeChunk)
		}
		for _, u := range d.users {
			seen[u]++
		}
	}
	if chunks != 3 || len(seen) != len(users) {
		t.Fatalf("%d chunks covering %d users; want 3 covering %d", chunks, len(seen), len(users))
	}
	for u, n := range seen {
		if n != 1 {
			t.Fatalf("user %d in %d chunks", u, n)
		}
	}
}

// Items arriving one a millisecond, slower than a round trip, still go
// several to a call: a busy forwarder waits forwardLinger for more. Before,
// 2,000 such items were ~2,000 signed calls, each a nonce in the target's
// replay cache. Every item still arrives.
func TestForwarderBatchesItemsArrivingSlowerThanARoundTrip(t *testing.T) {
	log := quietLog()
	target := New(Config{Secret: "s", Instance: "peer", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	srv := httptest.NewServer(target.InternalHandler())
	defer srv.Close()
	c := New(Config{Secret: "s", Instance: "me", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	f := c.forwarder(repo.Node{ID: 1, Instance: "peer", InternalAddr: srv.Listener.Addr().String()})
	defer f.cancel()
	const items = 2000
	for i := range items {
		f.enqueue(item{UserIDs: []int64{int64(i + 1)}, Frame: []byte(`{}`)})
		time.Sleep(time.Millisecond) // the pace of the events, not a wait for a condition
	}
	waitUntil(t, 20*time.Second, "every item forwarded", func() bool { return c.forwarded.Load() == items })
	if calls := target.internalCalls.Load(); calls > items/2 {
		t.Errorf("%d items took %d calls; want at most %d", items, calls, items/2)
	}
	if d := c.drops.Load(); d != 0 {
		t.Errorf("%d drops", d)
	}
}

// A target that sheds a call (503, its replay cache full for the second)
// gets it once more, freshly signed, after the pause it asks for; the
// recipients are not dropped.
func TestForwarderRetriesOnceWhenTheTargetSheds(t *testing.T) {
	log := quietLog()
	target := New(Config{Secret: "s", Instance: "peer", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	real := target.InternalHandler()
	var calls atomic.Int64
	var nonces sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonces.Store(r.Header.Get(headerNonce), true)
		if calls.Add(1)%2 == 1 { // every first try is shed
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		real.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := New(Config{Secret: "s", Instance: "me", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	f := c.forwarder(repo.Node{ID: 1, Instance: "peer", InternalAddr: srv.Listener.Addr().String()})
	defer f.cancel()
	f.enqueue(item{UserIDs: []int64{7}, Frame: []byte(`{}`)})
	waitUntil(t, 20*time.Second, "the item forwarded", func() bool { return c.forwarded.Load() == 1 })
	if got := target.internalCalls.Load(); got != 1 || calls.Load() != 2 {
		t.Fatalf("%d tries, %d accepted; want 2 and 1", calls.Load(), got)
	}
	n := 0
	nonces.Range(func(any, any) bool { n++; return true })
	if n != 2 {
		t.Fatalf("the retry reused its nonce (%d distinct)", n)
	}
	if d := c.drops.Load(); d != 0 {
		t.Errorf("%d drops", d)
	}
}
