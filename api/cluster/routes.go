package cluster

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/api/ws"
	"github.com/ringchat/ringchat/repo"
)

const upkeepTimeout = 3 * time.Second

// lock takes userID's stripe of the per-user locks and returns its socket
// counts (guarded by the same lock) and the unlock.
func (c *Cluster) lock(userID int64) (map[int64]int, func()) {
	i := uint64(userID) % uint64(len(c.userLocks))
	c.userLocks[i].Lock()
	if c.sockets[i] == nil {
		c.sockets[i] = map[int64]int{}
	}
	return c.sockets[i], c.userLocks[i].Unlock
}

func (c *Cluster) route() repo.Route {
	return repo.Route{NodeID: c.cfg.NodeID, Instance: c.cfg.Instance}
}

// Connected is the hub's OnConnect hook: every socket's connect writes the
// user's route hint (idempotent), and a user with no other live route comes
// online.
func (c *Cluster) Connected(id ws.Identity) {
	if c.connected(id) && c.cfg.OnPresence != nil {
		// Outside the user's lock: the presence audience read must not hold
		// up other users' connects on the same lock stripe.
		c.cfg.OnPresence(id.UserID, true, time.Time{})
	}
}

// connected writes the route hint and reports whether the user just came
// online cluster-wide.
//
// It counts the hooks itself, under the user's lock, rather than asking the
// hub: the hub registers a socket before its hook runs, so two devices
// connecting at once each saw two sockets and neither wrote the route. The
// count moves only here and in Disconnected (whose hook always follows its
// socket's Connected), so the first connect and the last disconnect are
// known exactly, in the order the route writes are made.
func (c *Cluster) connected(id ws.Identity) bool {
	counts, unlock := c.lock(id.UserID)
	defer unlock()
	counts[id.UserID]++
	first := counts[id.UserID] == 1
	ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
	defer cancel()
	elsewhere := first && c.onlineElsewhere(ctx, id.UserID)
	// Every connect writes it, not only the first: a write that failed (or a
	// route another node's cleanup removed) is repaired by the next socket.
	if err := c.store.PutRoute(ctx, id.UserID, c.route(), 2*c.cfg.RouteRefresh); err != nil {
		c.cfg.Log.Warn("write route", "user", id.UserID, "err", err)
	}
	return first && !elsewhere
}

// Disconnected is the hub's OnDisconnect hook: the node's last socket of a
// user removes its route and records last seen; with no other live route the
// user goes offline. A connect racing it waits for the user's lock and then
// writes the route again.
func (c *Cluster) Disconnected(id ws.Identity) {
	counts, unlock := c.lock(id.UserID)
	defer unlock()
	if counts[id.UserID]--; counts[id.UserID] > 0 {
		return
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
	if !c.onlineElsewhere(ctx, id.UserID) && c.cfg.OnPresence != nil {
		c.cfg.OnPresence(id.UserID, false, now)
	}
}

func (c *Cluster) onlineElsewhere(ctx context.Context, userID int64) bool {
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
func (c *Cluster) Online(ctx context.Context, userIDs []int64) (map[int64]bool, error) {
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
func (c *Cluster) refreshRoutes() {
	for _, uid := range c.hub.ConnectedUsers() {
		select {
		case <-c.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
		if err := c.store.PutRoute(ctx, uid, c.route(), 2*c.cfg.RouteRefresh); err != nil {
			c.cfg.Log.Warn("refresh route", "user", uid, "err", err)
		}
		cancel()
	}
}
