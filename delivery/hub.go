package delivery

import "github.com/ringchat/ringchat/delivery/ws"

// Hub is this node's ws.Hub whose Deliver also reaches devices on other nodes.
type Hub struct {
	*ws.Hub
	C *Node
}

// Deliver reaches every connected device of the users, on any node.
func (h Hub) Deliver(userIDs []int64, frame []byte) int { return h.C.Deliver(userIDs, frame) }

// CloseDevice closes a device's sockets on any node.
func (h Hub) CloseDevice(userID, deviceID int64, code int, reason string) {
	h.C.CloseDevice(userID, deviceID, code, reason)
}
