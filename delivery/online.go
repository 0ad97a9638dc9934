package delivery

import (
	"context"

	"github.com/ringchat/ringchat/notify"
)

// OnlineDevices is chat.Connections (package notify holds its types): for each user, the devices named by
// their routes on live nodes. A route without devices (a node older than
// schema 0016) counts as every device, so no connected device is pushed to.
// A single node (no cluster) answers from its own hub.
func (c *Node) OnlineDevices(ctx context.Context, userIDs []int64) (map[int64]notify.OnlineSet, error) {
	out := make(map[int64]notify.OnlineSet, len(userIDs))
	if c.cfg.Secret == "" {
		for _, uid := range userIDs {
			out[uid] = notify.OnlineSet{Devices: c.hub.ConnectedDevices(uid)}
		}
		return out, nil
	}
	routes, err := c.store.Routes(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	for _, uid := range userIDs {
		var set notify.OnlineSet
		for _, r := range routes[uid] {
			if !c.routeIsLive(ctx, r) {
				continue
			}
			if r.Devices == nil {
				set.All = true
			}
			set.Devices = append(set.Devices, r.Devices...)
		}
		out[uid] = set
	}
	return out, nil
}

// LiveCount is how many nodes of the cluster are live (at least 1: this
// one), for sharing work among them.
func (c *Node) LiveCount() int { return max(c.Stats().LiveNodes, 1) }
