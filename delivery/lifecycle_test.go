package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// Nodes leave and rejoin the registry, and their processes change, while
// route workers deliver to them from many goroutines: no send on a closed
// queue (before the fix a node that left between the liveness check and the
// address read was addressed as "", and the old forwarder's queue was closed
// under the workers still sending into it: "send on closed channel" killed
// the process). Afterwards every target still gets deliveries.
func TestNodesLeavingAndJoiningUnderDeliveryLoad(t *testing.T) {
	store := testStore(t)
	ctx := context.Background()
	name := fmt.Sprintf("churn%08x", rand.Uint32())
	c := startTestCluster(t, store, name)
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c.Stop(sctx)
	}()

	const nodes, users = 3, 20
	// Each node id is served by two processes in turn, at two addresses.
	peers := make([][2]*peer, nodes+1)
	for id := 1; id <= nodes; id++ {
		peers[id] = [2]*peer{newPeer(t, false), newPeer(t, false)}
	}
	instance := func(id, gen int) string { return fmt.Sprintf("n%d-%d", id, gen%2) }
	register := func(id, gen int) {
		n := repo.Node{ID: id, Instance: instance(id, gen), InternalAddr: peers[id][gen%2].addr(), StartedAt: time.Now().UTC()}
		if err := store.RegisterNode(ctx, name, n, time.Minute); err != nil {
			t.Error(err)
		}
	}
	uids := make([]int64, users)
	for i := range uids {
		uids[i] = rand.Int64N(1<<50) + 1
		for id := 1; id <= nodes; id++ {
			// Even users route to generation 0 of each node, odd users to generation 1.
			if err := store.PutRoute(ctx, uids[i], repo.Route{NodeID: id, Instance: instance(id, i)}, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id := 1; id <= nodes; id++ {
		register(id, 0)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var delivered atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Deliver(uids, []byte(`{"type":"t"}`))
				delivered.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	// A fast churn of the cached list alone, thousands of flips beside the
	// registry churn below: a node drops out of the list or comes back as
	// its other process, and the forwarders of gone processes are retired.
	var flips atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.mu.RLock()
			live := maps.Clone(c.live)
			c.mu.RUnlock()
			id, gen := 1+i%nodes, i/nodes
			if gen%2 == 0 {
				delete(live, id)
			} else {
				live[id] = repo.Node{ID: id, Instance: instance(id, gen/2), InternalAddr: peers[id][(gen/2)%2].addr()}
			}
			c.mu.Lock()
			c.live = live
			c.mu.Unlock()
			c.retireGone(live)
			flips.Add(1)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	// The churn: each round a node leaves, the list is re-read, it comes back
	// as its other process (so its forwarder is replaced), the list is re-read.
	deadline := time.Now().Add(8 * time.Second)
	rounds := 0
	for time.Now().Before(deadline) {
		id := 1 + rounds%nodes
		if err := store.DeregisterNode(ctx, name, id); err != nil {
			t.Fatal(err)
		}
		_ = c.refreshLive(ctx)
		register(id, rounds/nodes+1)
		_ = c.refreshLive(ctx)
		rounds++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d registry churn rounds and %d list flips under %d deliveries of %d users; stats %+v",
		rounds, flips.Load(), delivered.Load(), users, c.Stats())

	// The list settles; a fresh delivery reaches every node for every user it routes there.
	for id := 1; id <= nodes; id++ {
		register(id, 0)
	}
	if err := c.refreshLive(ctx); err != nil {
		t.Fatal(err)
	}
	before := map[int64][]int{}
	for _, u := range uids {
		for id := 1; id <= nodes; id++ {
			before[u] = append(before[u], peers[id][0].received(u))
		}
	}
	c.Deliver(uids, []byte(`{"type":"after"}`))
	waitUntil(t, 20*time.Second, "the settled delivery at every node", func() bool {
		for i, u := range uids {
			if i%2 == 1 {
				continue // routes to generation 1, not live now
			}
			for id := 1; id <= nodes; id++ {
				if peers[id][0].received(u) <= before[u][id-1] {
					return false
				}
			}
		}
		return true
	})
}

// Replacing the forwarder of a node that stopped answering does not wait for
// its call in flight while holding the forwarders' lock: the other workers
// (and Stats) carry on at once, and Stop ends within its context.
func TestRetiringAHungForwarderBlocksNoOne(t *testing.T) {
	store := testStore(t)
	ctx := context.Background()
	c := startTestCluster(t, store, fmt.Sprintf("hung%08x", rand.Uint32()))
	hung := newPeer(t, true)
	f := c.forwarder(repo.Node{ID: 1, Instance: "a", InternalAddr: hung.addr()})
	f.enqueue(item{UserIDs: []int64{1}, Frame: []byte(`{}`)})
	hung.waitHung(t, 1) // the call is in flight, and hangs
	start := time.Now()
	c.forwarder(repo.Node{ID: 1, Instance: "b", InternalAddr: hung.addr()}) // node 1 is another process now
	c.Stats()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("replacing a hung forwarder took %s", took)
	}
	c.forwarder(repo.Node{ID: 1, Instance: "b", InternalAddr: hung.addr()}).enqueue(item{UserIDs: []int64{1}, Frame: []byte(`{}`)})
	hung.waitHung(t, 2)
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start = time.Now()
	c.Stop(sctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Stop took %s with a hung target; its context allowed 1s", took)
	}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
