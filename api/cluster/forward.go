package cluster

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Deliver sends an encoded frame to every connected device of the users:
// this node's sockets at once, other nodes' through their internal
// listeners. It never blocks the caller: route look-ups run on workers.
func (c *Cluster) Deliver(userIDs []int64, frame []byte) int {
	n := c.hub.Deliver(userIDs, frame)
	// Not "if this node knows of no other": a node that started a moment ago
	// may hold sockets already while this one's list is seconds old.
	if c.cfg.Secret == "" {
		return n
	}
	// A large group's look-ups are split, so workers share them and one slow
	// read costs at most one chunk's live deliveries, not the whole group's.
	for len(userIDs) > 0 {
		chunk := userIDs[:min(len(userIDs), routeChunk)]
		userIDs = userIDs[len(chunk):]
		if !c.queueLookup(delivery{users: chunk, frame: frame}) {
			c.cfg.Log.Warn("delivery queue full: remote devices get this event on their next sync")
		}
	}
	return n
}

// queueLookup hands d to the route workers without waiting; when their queue
// is full it counts d's users as dropped and reports false.
func (c *Cluster) queueLookup(d delivery) bool {
	select {
	case c.deliveries <- d:
		return true
	default:
		c.drops.Add(int64(len(d.users)))
		return false
	}
}

// CloseDevice closes a device's sockets on every node: this node's at once,
// other nodes' through the same look-up and forwarding path as events (a
// revoked device must not keep receiving on a socket another node holds).
func (c *Cluster) CloseDevice(userID, deviceID int64, code int, reason string) {
	c.hub.CloseDevice(userID, deviceID, code, reason)
	if c.cfg.Secret == "" {
		return
	}
	if !c.queueLookup(delivery{users: []int64{userID}, close: &closeOrder{DeviceID: deviceID, Code: code, Reason: reason}}) {
		c.cfg.Log.Warn("delivery queue full: a revoked device's sockets on other nodes stay open until they reconnect",
			"user", userID, "device", deviceID)
	}
}

// routeWorkers run route look-ups; 32 keep up with a ring loaded by sends
// (at 8, deliveries waited seconds behind their acks in the reference
// workload). routeChunk bounds the users of one look-up.
const (
	routeWorkers = 32
	routeChunk   = 100
)

func (c *Cluster) routeWorkers() {
	defer c.wg.Done()
	done := make(chan struct{})
	for i := 0; i < routeWorkers; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-c.stop:
					return
				case d := <-c.deliveries:
					c.forward(d)
				}
			}
		}()
	}
	for i := 0; i < routeWorkers; i++ {
		<-done
	}
}

// forward reads one routes partition per recipient and queues one item per
// target node.
func (c *Cluster) forward(d delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
	defer cancel()
	routes, err := c.store.Routes(ctx, d.users)
	c.lookups.Add(int64(len(d.users)))
	if err != nil {
		c.drops.Add(int64(len(d.users)))
		c.cfg.Log.Warn("route look-up failed: remote devices get this event on their next sync", "err", err)
		return
	}
	byNode := map[int][]int64{}
	for uid, rs := range routes {
		for _, r := range rs {
			if r.NodeID == c.cfg.NodeID {
				continue
			}
			if c.routeIsLive(ctx, r) {
				byNode[r.NodeID] = append(byNode[r.NodeID], uid)
			}
		}
	}
	for nodeID, users := range byNode {
		c.mu.RLock()
		addr := c.live[nodeID].InternalAddr
		c.mu.RUnlock()
		c.forwarder(nodeID, addr).enqueue(item{UserIDs: users, Frame: d.frame, Close: d.close})
	}
}

// item is one frame for some users on the target node, or an order to close
// one of their devices: the internal wire format.
type item struct {
	UserIDs []int64         `json:"user_ids"`
	Frame   json.RawMessage `json:"frame,omitempty"`
	Close   *closeOrder     `json:"close,omitempty"`
}

// closeOrder asks the target node to close a device's sockets (a revoke).
type closeOrder struct {
	DeviceID int64  `json:"device_id"`
	Code     int    `json:"code"`
	Reason   string `json:"reason"`
}

type batch struct {
	Items []item `json:"items"`
}

// forwarder batches items for one target node: whatever queued while the
// previous call was in flight goes in the next call.
type forwarder struct {
	c      *Cluster
	addr   string
	queue  chan item
	client *http.Client
	done   chan struct{}
}

func (c *Cluster) forwarder(nodeID int, addr string) *forwarder {
	c.fwdMu.Lock()
	defer c.fwdMu.Unlock()
	f := c.forwarders[nodeID]
	if f != nil && f.addr == addr {
		return f
	}
	if f != nil {
		f.close() // the node id now belongs to another process
	}
	f = &forwarder{c: c, addr: addr, queue: make(chan item, c.cfg.ForwardQueue),
		client: &http.Client{Timeout: 5 * time.Second}, done: make(chan struct{})}
	c.forwarders[nodeID] = f
	go f.run()
	return f
}

func (f *forwarder) enqueue(it item) {
	select {
	case f.queue <- it:
	default:
		f.c.drops.Add(int64(len(it.UserIDs)))
	}
}

func (f *forwarder) close() { close(f.queue); <-f.done }

const maxBatch = 256

func (f *forwarder) run() {
	defer close(f.done)
	for it := range f.queue {
		b := batch{Items: []item{it}}
	fill:
		for len(b.Items) < maxBatch {
			select {
			case more, ok := <-f.queue:
				if !ok {
					break fill
				}
				b.Items = append(b.Items, more)
			default:
				break fill
			}
		}
		if err := f.send(b); err != nil {
			n := 0
			for _, it := range b.Items {
				n += len(it.UserIDs)
			}
			f.c.drops.Add(int64(n))
			f.c.cfg.Log.Warn("forward to node failed: its devices get these events on their next sync", "addr", f.addr, "items", len(b.Items), "err", err)
			continue
		}
		f.c.forwarded.Add(int64(len(b.Items)))
	}
}

func (f *forwarder) send(b batch) error {
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+f.addr+InternalDeliverPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.c.cfg.Secret)
	res, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("internal deliver answered %d", res.StatusCode)
	}
	return nil
}

// InternalDeliverPath is the node-to-node endpoint on the internal listener.
const InternalDeliverPath = "/internal/v1/deliver"

// maxInternalBody bounds one internal call (256 items of at most a few KiB each).
const maxInternalBody = 8 << 20

// InternalHandler serves the internal listener: only callers holding the
// cluster secret may deliver.
func (c *Cluster) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+InternalDeliverPath, func(w http.ResponseWriter, r *http.Request) {
		if !c.authorized(r) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthenticated","message":"cluster secret required"}}`))
			return
		}
		var b batch
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxInternalBody)).Decode(&b); err != nil {
			http.Error(w, `{"error":{"code":"invalid_argument","message":"malformed batch"}}`, http.StatusBadRequest)
			return
		}
		c.internalCalls.Add(1)
		for _, it := range b.Items {
			if it.Close != nil {
				for _, uid := range it.UserIDs {
					c.hub.CloseDevice(uid, it.Close.DeviceID, it.Close.Code, it.Close.Reason)
				}
				continue
			}
			c.hub.Deliver(it.UserIDs, it.Frame)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (c *Cluster) authorized(r *http.Request) bool {
	if c.cfg.Secret == "" {
		return false
	}
	got := []byte(r.Header.Get("Authorization"))
	want := []byte("Bearer " + c.cfg.Secret)
	return subtle.ConstantTimeCompare(got, want) == 1
}
