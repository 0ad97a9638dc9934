package delivery

import (
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
)

// Hub is this node's ws.Hub whose Deliver also reaches devices on other nodes.
type Hub struct {
	*ws.Hub
	C *Node
}

// Deliver reaches every connected device of the users, on any node.
func (h Hub) Deliver(userIDs []int64, frame []byte) int { return h.C.Deliver(userIDs, frame) }

// DeliverSent is Deliver for a message sent at sentAt (see Node.DeliverSent).
func (h Hub) DeliverSent(userIDs []int64, frame []byte, sentAt time.Time) int {
	return h.C.DeliverSent(userIDs, frame, sentAt)
}

// CloseDevice closes a device's sockets on any node.
func (h Hub) CloseDevice(userID, deviceID int64, code int, reason string) {
	h.C.CloseDevice(userID, deviceID, code, reason)
}
