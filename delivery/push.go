package delivery

import (
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
)

// closeEnded is the WebSocket close code for an ended device (policy violation).
const closeEnded = 1008

// Push queues the event {"type": kind, "event_id": eventID, "data": data} to
// every connected device of the users, on any node; sentAt, when not zero,
// is when the message it carries was made (Config.OnDelivered). It is
// chat.Delivery's and presence.Pusher's one way out.
func (c *Node) Push(userIDs []int64, kind string, eventID int64, data []byte, sentAt time.Time) int {
	return c.DeliverSent(userIDs, ws.AppendPush(kind, eventID, data), sentAt)
}

// EndDevice closes a device's sockets on every node with 1008: the device
// was revoked, logged out or logged in again.
func (c *Node) EndDevice(userID, deviceID int64, reason string) {
	c.CloseDevice(userID, deviceID, closeEnded, reason)
}
