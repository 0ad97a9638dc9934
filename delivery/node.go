// Package delivery makes several chatd nodes deliver as one. Each node keeps a
// row in the nodes table alive (one partition: every node reads the whole
// list every few seconds), writes a user's route hint when one of their
// sockets connects, and delivers an event to another node's sockets by a
// batched call, signed with the cluster secret, to that node's internal
// listener.
//
// Cost (docs/cluster.md): upkeep is one node-row write per node per NodeTTL/3
// plus one route write per connected user per RouteRefresh; a delivery reads
// one routes partition per recipient, never per device or per event kind.
package delivery

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// Config describes this node in the cluster.
type Config struct {
	Name         string        // cluster name: the nodes partition (default "default")
	NodeID       int           // the leased Snowflake node id
	Instance     string        // random per process
	InternalAddr string        // host:port other nodes call
	Secret       string        // shared by every node; empty = single node, no forwarding
	NodeTTL      time.Duration // node row TTL (default 15s); a dead node drops out within it
	RouteRefresh time.Duration // route rewrite period (default 1h); route TTL is twice it
	ForwardQueue int           // deliveries queued per target node (default 4096)
	Log          *slog.Logger
	// OnPresence is told when a user goes online or offline cluster-wide.
	OnPresence func(userID int64, online bool, lastSeen time.Time)
	// OnDelivered is told a message's age when this node's sockets take it
	// (forwarded: it came from another node); it must not block.
	OnDelivered func(age time.Duration, forwarded bool)
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "default"
	}
	if c.NodeTTL <= 0 {
		c.NodeTTL = 15 * time.Second
	}
	if c.RouteRefresh <= 0 {
		c.RouteRefresh = time.Hour
	}
	if c.ForwardQueue <= 0 {
		c.ForwardQueue = 4096
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Stats are counters for metrics and tests.
type Stats struct {
	Forwarded     int64 // items sent to other nodes
	ForwardDrops  int64 // items dropped (queue full or target failed)
	RouteLookups  int64 // route partitions read
	InternalCalls int64 // internal deliver calls received
	Waiting       int   // deliveries waiting for their route look-ups
	Queued        int   // items waiting in the per-target forwarding queues
	// LiveNodes is the registry as this node last read it (itself included);
	// HeartbeatFailures counts its own row's writes that failed.
	LiveNodes         int
	HeartbeatFailures int64
}

// Node is this node's view of the others.
type Node struct {
	cfg   Config
	store *repo.Store
	hub   *ws.Hub

	mu         sync.RWMutex
	live       map[int]repo.Node // refreshed from the nodes table
	liveReadAt time.Time         // when live was last read (zero: never)

	refreshMu   sync.Mutex
	lastRefresh time.Time // of the live list, for refreshLiveAtMostEverySecond

	fwdMu      sync.Mutex
	forwarders map[int]*forwarder

	userLocks [64]sync.Mutex       // orders connect/disconnect route writes per user
	sockets   [64]map[int64]int    // per stripe: user -> sockets whose Connected ran and Disconnected not yet
	turns     [64]map[int64]*turns // per stripe: user -> presence transitions decided and told
	turnDone  [64]*sync.Cond       // per stripe, on userLocks: a transition was told
	// routeWritten, for tests, runs in a first connect between its route
	// write and its read of the user's other routes.
	routeWritten func(userID int64)
	deliveries   chan delivery // route look-ups run off the send path
	stop         chan struct{}
	wg           sync.WaitGroup

	nonces nonceCache // of accepted internal calls, against replays

	forwarded, drops, lookups, internalCalls, heartbeatFailures atomic.Int64
}

type delivery struct {
	users  []int64
	frame  []byte
	close  *closeOrder // instead of a frame: close a device's sockets
	sentAt time.Time   // a message's id time; zero for other events
}

// New makes a cluster member; Start joins it.
func New(cfg Config, store *repo.Store, hub *ws.Hub) *Node {
	cfg = cfg.withDefaults()
	return &Node{cfg: cfg, store: store, hub: hub, live: map[int]repo.Node{},
		forwarders: map[int]*forwarder{}, deliveries: make(chan delivery, 16384), stop: make(chan struct{})}
}

// Stats returns the counters.
func (c *Node) Stats() Stats {
	st := Stats{Forwarded: c.forwarded.Load(), ForwardDrops: c.drops.Load(),
		RouteLookups: c.lookups.Load(), InternalCalls: c.internalCalls.Load(), Waiting: len(c.deliveries),
		HeartbeatFailures: c.heartbeatFailures.Load()}
	c.mu.RLock()
	// A list this node could not re-read within --node-ttl says nothing of
	// the registry now: 0, so it cannot prop up a count of live nodes.
	if time.Since(c.liveReadAt) <= c.cfg.NodeTTL {
		st.LiveNodes = len(c.live)
	}
	c.mu.RUnlock()
	c.fwdMu.Lock()
	for _, f := range c.forwarders {
		st.Queued += len(f.queue)
	}
	c.fwdMu.Unlock()
	return st
}

func (c *Node) self() repo.Node {
	return repo.Node{ID: c.cfg.NodeID, Instance: c.cfg.Instance, InternalAddr: c.cfg.InternalAddr, StartedAt: time.Now().UTC()}
}

// Start registers this node, loads the live list and starts the upkeep loops.
func (c *Node) Start(ctx context.Context) error {
	if err := c.store.RegisterNode(ctx, c.cfg.Name, c.self(), c.cfg.NodeTTL); err != nil {
		return err
	}
	if err := c.refreshLive(ctx); err != nil {
		return err
	}
	c.wg.Add(3)
	go c.every(c.cfg.NodeTTL/3, c.heartbeat)
	go c.every(c.cfg.RouteRefresh, c.refreshRoutes)
	go c.routeWorkers()
	return nil
}

// Stop deregisters the node and removes its route hints, so other nodes stop
// sending here at once; then it stops the loops and the forwarders.
func (c *Node) Stop(ctx context.Context) {
	close(c.stop)
	c.wg.Wait()
	if err := c.store.DeregisterNode(ctx, c.cfg.Name, c.cfg.NodeID); err != nil {
		c.cfg.Log.Warn("deregister node", "err", err)
	}
	// No route worker runs now, so nothing enqueues: each forwarder sends
	// what it holds and ends, waited for outside fwdMu and only until ctx ends.
	c.fwdMu.Lock()
	fs := make([]*forwarder, 0, len(c.forwarders))
	for id, f := range c.forwarders {
		fs = append(fs, f)
		delete(c.forwarders, id)
	}
	c.fwdMu.Unlock()
	for _, f := range fs {
		f.finish()
	}
	for _, f := range fs {
		select {
		case <-f.done:
		case <-ctx.Done():
		}
		f.cancel()
	}
}

// every runs fn each interval until Stop.
func (c *Node) every(interval time.Duration, fn func()) {
	defer c.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			fn()
		}
	}
}

func (c *Node) heartbeat() {
	// Each its own bound: a slow write must not leave the read no time.
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.NodeTTL/3)
	defer cancel()
	if err := c.store.RegisterNode(ctx, c.cfg.Name, c.self(), c.cfg.NodeTTL); err != nil {
		c.heartbeatFailures.Add(1)
		c.cfg.Log.Warn("node heartbeat failed", "err", err)
	}
	readCtx, cancelRead := context.WithTimeout(context.Background(), c.cfg.NodeTTL/3)
	defer cancelRead()
	if err := c.refreshLive(readCtx); err != nil {
		c.cfg.Log.Warn("refresh node list failed", "err", err)
	}
}

func (c *Node) refreshLive(ctx context.Context) error {
	nodes, err := c.store.ListNodes(ctx, c.cfg.Name)
	if err != nil {
		return err
	}
	live := make(map[int]repo.Node, len(nodes))
	for _, n := range nodes {
		live[n.ID] = n
	}
	c.mu.Lock()
	c.live, c.liveReadAt = live, time.Now()
	c.mu.Unlock()
	c.retireGone(live)
	return nil
}

// routeIsLive is isLive, looking at the registry again when the route names a
// node this one's list lacks: perhaps a node newer than the list (refreshed
// every NodeTTL/3) that holds sockets already.
func (c *Node) routeIsLive(ctx context.Context, r repo.Route) bool {
	_, ok := c.liveRoute(ctx, r)
	return ok
}

// liveRoute is routeIsLive returning the node as the same read of the list
// saw it, so its address belongs to the process the route names.
func (c *Node) liveRoute(ctx context.Context, r repo.Route) (repo.Node, bool) {
	if n, ok := c.isLive(r); ok {
		return n, true
	}
	if !c.refreshLiveAtMostEverySecond(ctx) {
		return repo.Node{}, false
	}
	return c.isLive(r)
}

// refreshLiveAtMostEverySecond reloads the live list when a route names a
// node it does not hold, unless it was reloaded within the last second (the
// routes of a dead node keep naming it until their TTL). It reports whether
// the list is that fresh now.
func (c *Node) refreshLiveAtMostEverySecond(ctx context.Context) bool {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	if time.Since(c.lastRefresh) < time.Second {
		return true
	}
	c.lastRefresh = time.Now()
	if err := c.refreshLive(ctx); err != nil {
		c.cfg.Log.Warn("refresh node list failed", "err", err)
		return false
	}
	return true
}

// isLive reports whether a route points at a live process.
func (c *Node) isLive(r repo.Route) (repo.Node, bool) {
	c.mu.RLock()
	n, ok := c.live[r.NodeID]
	c.mu.RUnlock()
	return n, ok && n.Instance == r.Instance
}
