package delivery

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

const upkeepTimeout = 3 * time.Second

// lock takes userID's stripe of the per-user locks and returns its socket
// counts (guarded by the same lock) and the unlock.
func (c *Node) lock(userID int64) (map[int64]int, func()) {
	i := c.stripe(userID)
	c.userLocks[i].Lock()
	if c.sockets[i] == nil {
		c.sockets[i] = map[int64]int{}
		c.turnDone[i] = sync.NewCond(&c.userLocks[i])
	}
	return c.sockets[i], c.userLocks[i].Unlock
}

func (c *Node) stripe(userID int64) int { return int(uint64(userID) % uint64(len(c.userLocks))) }

// putRoute writes this node's route for userID naming the hub's devices of
// the user and also (the connecting one), unless that names none (the
// sockets closed before this hook ran): a route with no devices would be
// read as every device connected, and the closing socket's own hook
// deletes or rewrites the route.
func (c *Node) putRoute(ctx context.Context, userID int64, also ...int64) error {
	r := c.route(userID)
	for _, d := range also {
		if !slices.Contains(r.Devices, d) {
			r.Devices = append(r.Devices, d)
		}
	}
	if len(r.Devices) == 0 {
		return nil
	}
	return c.store.PutRoute(ctx, userID, r, 2*c.cfg.RouteRefresh)
}

// route is this node's route for userID, naming the devices whose sockets
// the hub holds (a device with a push target and no route is offline).
func (c *Node) route(userID int64) repo.Route {
	var devices []int64
	for _, d := range c.hub.ConnectedDevices(userID) {
		if !slices.Contains(devices, d) {
			devices = append(devices, d)
		}
	}
	return repo.Route{NodeID: c.cfg.NodeID, Instance: c.cfg.Instance, Devices: devices}
}

// presence is a transition decided under the user's lock and told after it
// is released: the audience reads and the Deliver must not hold up other
// users' connects on the same stripe. A user's transitions are told in the
// order they were decided (an offline decided first is never told after the
// next online): each takes a turn under the lock and waits, without holding
// the lock, for the one before it.
type presence struct {
	c        *Node
	userID   int64
	online   bool
	lastSeen time.Time
	turn     uint64
	ok       bool // false: nothing to tell
}

// turns counts one user's decided and told transitions.
type turns struct{ decided, told uint64 }

// decide is called under the user's lock.
func (c *Node) decide(userID int64, online bool, lastSeen time.Time) presence {
	if c.cfg.OnPresence == nil {
		return presence{}
	}
	i := c.stripe(userID)
	if c.turns[i] == nil {
		c.turns[i] = map[int64]*turns{}
	}
	t := c.turns[i][userID]
	if t == nil {
		t = &turns{}
		c.turns[i][userID] = t
	}
	t.decided++
	return presence{c: c, userID: userID, online: online, lastSeen: lastSeen, turn: t.decided, ok: true}
}

// tell is called after the user's lock is released.
func (p presence) tell() {
	if !p.ok {
		return
	}
	c, i := p.c, p.c.stripe(p.userID)
	_, unlock := c.lock(p.userID)
	for c.turns[i][p.userID].told+1 != p.turn {
		c.turnDone[i].Wait() // releases the user's lock while waiting
	}
	unlock()
	// Deferred: a panicking fan-out must still pass the turn on, or the
	// user's later transitions would wait for it forever.
	defer func() {
		_, unlock := c.lock(p.userID)
		t := c.turns[i][p.userID]
		if t.told++; t.told == t.decided {
			delete(c.turns[i], p.userID)
		}
		c.turnDone[i].Broadcast()
		unlock()
	}()
	c.cfg.OnPresence(p.userID, p.online, p.lastSeen)
}

// Connected is the hub's OnConnect hook: every socket's connect writes the
// user's route hint (idempotent), and a user with no other live route comes
// online.
func (c *Node) Connected(id ws.Identity) { c.connected(id).tell() }

// connected writes the route hint and decides whether the user just came
// online cluster-wide.
//
// It counts the hooks itself, under the user's lock, rather than asking the
// hub: the hub registers a socket before its hook runs, so two devices
// connecting at once each saw two sockets and neither wrote the route. The
// count moves only here and in Disconnected (whose hook always follows its
// socket's Connected), so the first connect and the last disconnect are
// known exactly, in the order the route writes are made.
//
// The route is written before the other routes are read, and Disconnected
// deletes before it reads: of a user moving from node A to node B, B's read
// misses A's route only if A's delete came first, and then A's read (later
// still) sees B's route or comes before B's write, in which case B's read
// misses A's route and B says online. Either A stays quiet or B speaks, so
// the user never ends offline while connected. (Reading first, B saw A's
// route and kept quiet while A, not yet seeing B's, said offline.)
func (c *Node) connected(id ws.Identity) presence {
	counts, unlock := c.lock(id.UserID)
	defer unlock()
	counts[id.UserID]++
	first := counts[id.UserID] == 1
	ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
	defer cancel()
	// Every connect writes it, not only the first: a write that failed (or a
	// route another node's cleanup removed) is repaired by the next socket.
	if err := c.putRoute(ctx, id.UserID, id.DeviceID); err != nil {
		c.cfg.Log.Warn("write route", "user", id.UserID, "err", err)
	}
	if !first {
		return presence{}
	}
	if c.routeWritten != nil {
		c.routeWritten(id.UserID)
	}
	if c.onlineElsewhere(ctx, id.UserID) {
		return presence{}
	}
	return c.decide(id.UserID, true, time.Time{})
}

// Disconnected is the hub's OnDisconnect hook: the node's last socket of a
// user removes its route and records last seen; with no other live route the
// user goes offline. A connect racing it waits for the user's lock and then
// writes the route again.
func (c *Node) Disconnected(id ws.Identity) { c.disconnected(id).tell() }

func (c *Node) disconnected(id ws.Identity) presence {
	counts, unlock := c.lock(id.UserID)
	defer unlock()
	if counts[id.UserID]--; counts[id.UserID] > 0 {
		// Still connected here, maybe without this device: the route names
		// the devices left, so the one that went gets its pushes.
		ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
		defer cancel()
		if err := c.putRoute(ctx, id.UserID); err != nil {
			c.cfg.Log.Warn("rewrite route", "user", id.UserID, "err", err)
		}
		return presence{}
	}
	delete(counts, id.UserID)
	ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
	defer cancel()
	now := time.Now().UTC()
	if err := c.store.DeleteRoute(ctx, id.UserID, c.cfg.NodeID); err != nil {
		c.cfg.Log.Warn("delete route", "user", id.UserID, "err", err)
	}
	if err := c.store.SetLastSeen(ctx, id.UserID, now); err != nil {
		c.cfg.Log.Warn("write last seen", "user", id.UserID, "err", err)
	}
	if c.onlineElsewhere(ctx, id.UserID) {
		return presence{}
	}
	return c.decide(id.UserID, false, now)
}

func (c *Node) onlineElsewhere(ctx context.Context, userID int64) bool {
	routes, err := c.store.Routes(ctx, []int64{userID})
	if err != nil {
		return false
	}
	for _, r := range routes[userID] {
		if r.NodeID == c.cfg.NodeID {
			continue
		}
		if c.routeIsLive(ctx, r) {
			return true
		}
	}
	return false
}

// Online reports, for each user, whether any socket of theirs is open on a live node.
func (c *Node) Online(ctx context.Context, userIDs []int64) (map[int64]bool, error) {
	routes, err := c.store.Routes(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]bool, len(userIDs))
	for _, uid := range userIDs {
		for _, r := range routes[uid] {
			if c.routeIsLive(ctx, r) {
				out[uid] = true
				break
			}
		}
	}
	return out, nil
}

// refreshRoutes rewrites the route hint of every connected user; it runs once
// per RouteRefresh, so their TTL (twice that) never runs out.
func (c *Node) refreshRoutes() { c.refreshRoutesOf(c.hub.ConnectedUsers()) }

// refreshRoutesOf rewrites the routes of those of users who still have a
// socket here. Each write is made under the user's lock and only while the
// hooks count a socket: a user whose last socket closed after the snapshot
// was taken had the route deleted by Disconnected, and writing it back would
// show them online for two RouteRefresh periods.
func (c *Node) refreshRoutesOf(users []int64) {
	for _, uid := range users {
		select {
		case <-c.stop:
			return
		default:
		}
		c.refreshRoute(uid)
	}
}

func (c *Node) refreshRoute(userID int64) {
	counts, unlock := c.lock(userID)
	defer unlock()
	if counts[userID] == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
	defer cancel()
	if err := c.putRoute(ctx, userID); err != nil {
		c.cfg.Log.Warn("refresh route", "user", userID, "err", err)
	}
}
