package repo

import "github.com/gocql/gocql"

// HostEvent is a change in the driver's view of one Cassandra node: "add"
// (discovered), "remove" (left the ring), "up" or "down" (its pool came back
// or was lost, from the node's own connections or the ring's status events).
type HostEvent struct {
	Addr, DC, Rack string
	HostID         string // the node's id, which outlives an address change
	Event          string
}

// hostWatch is the cluster's host selection policy with every host state
// change also reported to notify; gocql's policies are the only place the
// driver announces them (HostStateNotifier).
type hostWatch struct {
	gocql.HostSelectionPolicy
	notify func(HostEvent)
}

func (w *hostWatch) report(h *gocql.HostInfo, event string) {
	w.notify(HostEvent{Addr: h.ConnectAddress().String(), DC: h.DataCenter(), Rack: h.Rack(), HostID: h.HostID(), Event: event})
}

func (w *hostWatch) AddHost(h *gocql.HostInfo) {
	w.HostSelectionPolicy.AddHost(h)
	w.report(h, "add")
}

func (w *hostWatch) RemoveHost(h *gocql.HostInfo) {
	w.HostSelectionPolicy.RemoveHost(h)
	w.report(h, "remove")
}

// HostUp reports before the policy takes the node back. The driver has
// already marked it up, so a query may reach it first; a sync spanning the
// report is refused (CatchUp.Changed).
func (w *hostWatch) HostUp(h *gocql.HostInfo) {
	w.report(h, "up")
	w.HostSelectionPolicy.HostUp(h)
}

func (w *hostWatch) HostDown(h *gocql.HostInfo) {
	w.HostSelectionPolicy.HostDown(h)
	w.report(h, "down")
}

// AddHosts keeps the token-aware policy's bulk add at session start (gocql
// looks for it by type assertion, which embedding alone would hide).
func (w *hostWatch) AddHosts(hosts []*gocql.HostInfo) {
	if bulk, ok := w.HostSelectionPolicy.(interface{ AddHosts([]*gocql.HostInfo) }); ok {
		bulk.AddHosts(hosts)
	} else {
		for _, h := range hosts {
			w.HostSelectionPolicy.AddHost(h)
		}
	}
	for _, h := range hosts {
		w.report(h, "add")
	}
}
