package cluster

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/api/ws"
	"github.com/ringchat/ringchat/repo"
)

const upkeepTimeout = 3 * time.Second

func (c *Cluster) lock(userID int64) func() {
	m := &c.userLocks[uint64(userID)%uint64(len(c.userLocks))]
	m.Lock()
	return m.Unlock
}

func (c *Cluster) route() repo.Route {
	return repo.Route{NodeID: c.cfg.NodeID, Instance: c.cfg.Instance}
}

// Connected is the hub's OnConnect hook: the node's first socket of a user
// writes its route hint, and a user with no other live route comes online.
func (c *Cluster) Connected(id ws.Identity) {
	if c.connected(id) && c.cfg.OnPresence != nil {
		// Outside the user's lock: the presence audience read must not hold
		// up other users' connects on the same lock stripe.
		c.cfg.OnPresence(id.UserID, true, time.Time{})
	}
}

// connected writes the route hint and reports whether the user just came
// online cluster-wide.
func (c *Cluster) connected(id ws.Identity) bool {
	defer c.lock(id.UserID)()
	if len(c.hub.ConnectedDevices(id.UserID)) != 1 {
		return false // this node already had a socket of the user
	}
	ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
	defer cancel()
	elsewhere := c.onlineElsewhere(ctx, id.UserID)
	if err := c.store.PutRoute(ctx, id.UserID, c.route(), 2*c.cfg.RouteRefresh); err != nil {
		c.cfg.Log.Warn("write route", "user", id.UserID, "err", err)
	}
	return !elsewhere
}

// Disconnected is the hub's OnDisconnect hook: the node's last socket of a
// user removes its route and records last seen; with no other live route the
// user goes offline.
func (c *Cluster) Disconnected(id ws.Identity) {
	defer c.lock(id.UserID)()
	if len(c.hub.ConnectedDevices(id.UserID)) != 0 {
		return
	}
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
