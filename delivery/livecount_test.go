package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/internal/faultproxy"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
)

// A node cut off from Cassandra cannot see the registry: once its list is
// older than the node TTL it reports 0 live nodes, not the last count (which
// would hide it from the alert on nodes that run but are not registered), and
// the count comes back with the ring.
func TestLiveNodesIsZeroWhileTheRegistryIsUnreadable(t *testing.T) {
	session, proxy := cqltest.ProxiedSession(t, shared.Name(t), 300*time.Millisecond)
	store := repo.NewStore(session, repo.Layout{MessageBucket: time.Hour, InboxBucket: time.Minute}, repo.DefaultRetention())
	log := quietLog()
	c := New(Config{Name: fmt.Sprintf("cut%08x", rand.Uint32()), Instance: "self", InternalAddr: "127.0.0.1:1",
		Secret: "s", NodeTTL: 1500 * time.Millisecond, Log: log}, store, ws.NewHub(ws.Config{}, log))
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		proxy.SetMode(faultproxy.Forward)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Stop(ctx)
	}()
	waitLive := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for c.Stats().LiveNodes != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: live nodes %d; want %d (heartbeat failures %d)", what, c.Stats().LiveNodes, want, c.Stats().HeartbeatFailures)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLive("joined", 1)
	proxy.SetMode(faultproxy.Refuse)
	waitLive("cut off", 0)
	if c.Stats().HeartbeatFailures == 0 {
		t.Fatal("no heartbeat failure counted while cut off")
	}
	proxy.SetMode(faultproxy.Forward)
	waitLive("back", 1)
}
