package repo

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"
)

// Node is one live chatd in the registry.
type Node struct {
	ID           int       `db:"node_id"`
	Instance     string    `db:"instance"`
	InternalAddr string    `db:"internal_addr"`
	StartedAt    time.Time `db:"started_at"`
}

// Route says node NodeID (process Instance) holds sockets of a user.
type Route struct {
	NodeID   int    `db:"node_id"`
	Instance string `db:"instance"`
	// Devices are the user's devices with a socket there; nil: not known (a
	// node older than schema 0016), which counts as every device.
	Devices []int64 `db:"devices"`
}

const (
	cqlUpsertNode  = `INSERT INTO nodes (cluster, node_id, instance, internal_addr, started_at) VALUES (?, ?, ?, ?, ?) USING TTL ?`
	cqlDeleteNode  = `DELETE FROM nodes WHERE cluster = ? AND node_id = ?`
	cqlListNodes   = `SELECT node_id, instance, internal_addr, started_at FROM nodes WHERE cluster = ? LIMIT 1024`
	cqlUpsertRoute = `INSERT INTO routes_by_user (user_id, node_id, instance, devices) VALUES (?, ?, ?, ?) USING TTL ?`
	cqlDeleteRoute = `DELETE FROM routes_by_user WHERE user_id = ? AND node_id = ?`
	cqlListRoutes  = `SELECT node_id, instance, devices FROM routes_by_user WHERE user_id = ? LIMIT 1024`
	cqlSetLastSeen = `INSERT INTO last_seen (user_id, last_seen) VALUES (?, ?)`
	cqlGetLastSeen = `SELECT last_seen FROM last_seen WHERE user_id = ?`
)

// RegisterNode writes (or refreshes) this node's registry row with a TTL.
func (st *Store) RegisterNode(ctx context.Context, cluster string, n Node, ttl time.Duration) error {
	err := st.query(ctx, cqlUpsertNode, cluster, n.ID, n.Instance, n.InternalAddr, n.StartedAt, ttlSeconds(ttl)).ExecRelease()
	return translate("register node", err)
}

// DeregisterNode removes this node's row at once (graceful shutdown).
func (st *Store) DeregisterNode(ctx context.Context, cluster string, nodeID int) error {
	return translate("deregister node", st.query(ctx, cqlDeleteNode, cluster, nodeID).ExecRelease())
}

// ListNodes returns the live nodes of a cluster.
func (st *Store) ListNodes(ctx context.Context, cluster string) ([]Node, error) {
	var ns []Node
	err := st.query(ctx, cqlListNodes, cluster).SelectRelease(&ns)
	return ns, translate("list nodes", err)
}

// PutRoute records that a node holds sockets of userID, for ttl. r.Devices
// is written whole (an empty set is stored as null: every device).
func (st *Store) PutRoute(ctx context.Context, userID int64, r Route, ttl time.Duration) error {
	return translate("put route", st.query(ctx, cqlUpsertRoute, userID, r.NodeID, r.Instance, r.Devices, ttlSeconds(ttl)).ExecRelease())
}

// DeleteRoute removes a node's route for userID.
func (st *Store) DeleteRoute(ctx context.Context, userID int64, nodeID int) error {
	return translate("delete route", st.query(ctx, cqlDeleteRoute, userID, nodeID).ExecRelease())
}

// Routes returns the route hints of each user (one partition read per user,
// run concurrently): the look-up a delivery pays per recipient.
func (st *Store) Routes(ctx context.Context, userIDs []int64) (map[int64][]Route, error) {
	out := make(map[int64][]Route, len(userIDs))
	results := make([][]Route, len(userIDs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for i, uid := range userIDs {
		g.Go(func() error {
			return st.query(gctx, cqlListRoutes, uid).SelectRelease(&results[i])
		})
	}
	if err := g.Wait(); err != nil {
		return nil, translate("list routes", err)
	}
	for i, uid := range userIDs {
		out[uid] = results[i]
	}
	return out, nil
}

// SetLastSeen records when a user's last socket closed.
func (st *Store) SetLastSeen(ctx context.Context, userID int64, at time.Time) error {
	return translate("set last seen", st.query(ctx, cqlSetLastSeen, userID, at).ExecRelease())
}

// LastSeen returns when a user was last online (zero if never).
func (st *Store) LastSeen(ctx context.Context, userID int64) (time.Time, error) {
	var t time.Time
	err := st.rawQuery(ctx, cqlGetLastSeen, userID).Scan(&t)
	if IsCode(translate("", err), CodeNotFound) {
		return time.Time{}, nil
	}
	return t, translate("get last seen", err)
}
