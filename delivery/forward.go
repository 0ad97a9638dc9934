package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Deliver sends an encoded frame to every connected device of the users:
// this node's sockets at once, other nodes' through their internal
// listeners. It never blocks the caller: route look-ups run on workers.
func (c *Node) Deliver(userIDs []int64, frame []byte) int {
	return c.DeliverSent(userIDs, frame, time.Time{})
}

// DeliverSent is Deliver for a message sent at sentAt (its id's time): each
// node that queues it to a socket reports its age to Config.OnDelivered.
func (c *Node) DeliverSent(userIDs []int64, frame []byte, sentAt time.Time) int {
	n := c.hub.Deliver(userIDs, frame)
	c.delivered(n, sentAt, false)
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
		if !c.queueLookup(delivery{users: chunk, frame: frame, sentAt: sentAt}) {
			c.cfg.Log.Warn("delivery queue full: remote devices get this event on their next sync")
		}
	}
	return n
}

// queueLookup hands d to the route workers without waiting; when their queue
// is full it counts d's users as dropped and reports false.
func (c *Node) queueLookup(d delivery) bool {
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
func (c *Node) CloseDevice(userID, deviceID int64, code int, reason string) {
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

func (c *Node) routeWorkers() {
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
func (c *Node) forward(d delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), upkeepTimeout)
	defer cancel()
	routes, err := c.store.Routes(ctx, d.users)
	c.lookups.Add(int64(len(d.users)))
	if err != nil {
		c.drops.Add(int64(len(d.users)))
		c.cfg.Log.Warn("route look-up failed: remote devices get this event on their next sync", "err", err)
		return
	}
	// The target's address and instance come with the liveness answer, in one
	// read of the list: a node that leaves between two reads is never
	// addressed as "" (or by another process's address).
	byNode := map[int][]int64{}
	targets := map[int]repo.Node{}
	for uid, rs := range routes {
		for _, r := range rs {
			if r.NodeID == c.cfg.NodeID {
				continue
			}
			if n, ok := c.liveRoute(ctx, r); ok && n.InternalAddr != "" {
				byNode[r.NodeID] = append(byNode[r.NodeID], uid)
				targets[r.NodeID] = n
			}
		}
	}
	for nodeID, users := range byNode {
		c.forwarder(targets[nodeID]).enqueue(item{UserIDs: users, Frame: d.frame, Close: d.close, SentAtMs: unixMs(d.sentAt)})
	}
}

// item is one frame for some users on the target node, or an order to close
// one of their devices: the internal wire format.
// SentAtMs (0: not a message) is ignored by nodes older than it, as any
// unknown field, so a rolling upgrade mixes both.
type item struct {
	UserIDs  []int64         `json:"user_ids"`
	Frame    json.RawMessage `json:"frame,omitempty"`
	Close    *closeOrder     `json:"close,omitempty"`
	SentAtMs int64           `json:"sent_at_ms,omitempty"`
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// delivered reports a message's age once n of this node's sockets took it.
// The age spans the send's writes, the route look-up and, for a forwarded
// one, the call (and the two nodes' clock difference, at most --clock-skew);
// a clock that stepped back reports 0, not a negative age.
func (c *Node) delivered(n int, sentAt time.Time, forwarded bool) {
	if n == 0 || sentAt.IsZero() || c.cfg.OnDelivered == nil {
		return
	}
	c.cfg.OnDelivered(max(time.Since(sentAt), 0), forwarded)
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

// forwarder batches items for one target process: whatever queued while the
// previous call was in flight goes in the next call.
//
// Its queue is never closed, so an enqueue can never panic, however late a
// route worker holding an old pointer calls it. A forwarder ends by cancel
// (its node left the list or its id went to another process: items still
// queued are counted as dropped) or by finish (Stop: send what is queued,
// then end). Neither waits, so nobody waits while holding fwdMu.
type forwarder struct {
	c        *Node
	target   repo.Node
	queue    chan item
	client   *http.Client
	ctx      context.Context // cancelled when the forwarder is retired
	cancel   context.CancelFunc
	finished chan struct{} // closed by finish
	finOnce  sync.Once
	done     chan struct{} // closed when run has returned
}

// forwarder returns the forwarder for target's process, replacing one made
// for an earlier process that held the same node id.
func (c *Node) forwarder(target repo.Node) *forwarder {
	c.fwdMu.Lock()
	defer c.fwdMu.Unlock()
	f := c.forwarders[target.ID]
	if f != nil && f.target.Instance == target.Instance && f.target.InternalAddr == target.InternalAddr {
		return f
	}
	if f != nil {
		f.cancel() // the node id now belongs to another process
	}
	ctx, cancel := context.WithCancel(context.Background())
	f = &forwarder{c: c, target: target, queue: make(chan item, c.cfg.ForwardQueue),
		client: &http.Client{Timeout: 5 * time.Second}, ctx: ctx, cancel: cancel,
		finished: make(chan struct{}), done: make(chan struct{})}
	c.forwarders[target.ID] = f
	go f.run()
	return f
}

// retireGone cancels the forwarders of processes no longer in live.
func (c *Node) retireGone(live map[int]repo.Node) {
	c.fwdMu.Lock()
	defer c.fwdMu.Unlock()
	for id, f := range c.forwarders {
		if n, ok := live[id]; !ok || n.Instance != f.target.Instance || n.InternalAddr != f.target.InternalAddr {
			f.cancel()
			delete(c.forwarders, id)
		}
	}
}

func (f *forwarder) enqueue(it item) {
	if f.ctx.Err() != nil {
		f.c.drops.Add(int64(len(it.UserIDs)))
		return
	}
	select {
	case f.queue <- it:
	default:
		f.c.drops.Add(int64(len(it.UserIDs)))
	}
}

func (f *forwarder) finish() { f.finOnce.Do(func() { close(f.finished) }) }

// maxBatch bounds the items of one call. forwardLinger is how long a busy
// forwarder waits for more items before it sends: without it, items arriving
// slower than a round trip went one call each, and every call costs the
// target a signature check and a nonce (a thousand events a second to one
// node were a thousand calls). An idle forwarder sends its first item at once.
const (
	maxBatch      = 256
	forwardLinger = 2 * time.Millisecond
	maxRetryAfter = time.Second
)

func (f *forwarder) run() {
	defer close(f.done)
	defer f.dropQueued()
	var lastSent time.Time
	linger := time.NewTimer(0)
	<-linger.C
	for {
		var it item
		select {
		case <-f.ctx.Done():
			return
		case it = <-f.queue:
		case <-f.finished:
			select {
			case it = <-f.queue:
			default:
				return // finished and nothing left to send
			}
		}
		b := batch{Items: []item{it}}
		f.fill(&b)
		// Busy: more than one item was waiting, or a call ended a moment ago.
		if len(b.Items) < maxBatch && (len(b.Items) > 1 || time.Since(lastSent) < forwardLinger) {
			linger.Reset(forwardLinger)
		wait:
			for len(b.Items) < maxBatch {
				select {
				case more := <-f.queue:
					b.Items = append(b.Items, more)
				case <-linger.C:
					break wait
				case <-f.ctx.Done():
					break wait
				}
			}
			if !linger.Stop() {
				select {
				case <-linger.C:
				default:
				}
			}
		}
		err := f.send(b)
		var busy *busyError
		if errors.As(err, &busy) {
			// The target's replay cache is full for this second: once more,
			// after the pause it asked for, with a fresh timestamp and nonce.
			select {
			case <-time.After(min(busy.retryAfter, maxRetryAfter)):
				err = f.send(b)
			case <-f.ctx.Done():
			}
		}
		lastSent = time.Now()
		if err != nil {
			f.c.drops.Add(int64(users(b.Items)))
			f.c.cfg.Log.Warn("forward to node failed: its devices get these events on their next sync",
				"node_id", f.target.ID, "addr", f.target.InternalAddr, "items", len(b.Items), "err", err)
			continue
		}
		f.c.forwarded.Add(int64(len(b.Items)))
	}
}

// fill adds to b what is queued now, up to maxBatch.
func (f *forwarder) fill(b *batch) {
	for len(b.Items) < maxBatch {
		select {
		case more := <-f.queue:
			b.Items = append(b.Items, more)
		default:
			return
		}
	}
}

// dropQueued counts what a retired forwarder leaves behind. An enqueue that
// races the retirement may still add an item afterwards: it is not sent, and
// the recipients get it by sync like any dropped event.
func (f *forwarder) dropQueued() {
	for {
		select {
		case it := <-f.queue:
			f.c.drops.Add(int64(len(it.UserIDs)))
		default:
			return
		}
	}
}

func users(items []item) int {
	n := 0
	for _, it := range items {
		n += len(it.UserIDs)
	}
	return n
}

func (f *forwarder) send(b batch) error {
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(f.ctx, http.MethodPost, "http://"+f.target.InternalAddr+InternalDeliverPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	SignRequest(req, f.c.cfg.Secret, f.target.Instance, body, time.Now())
	res, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	switch res.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusServiceUnavailable:
		secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		return &busyError{retryAfter: time.Duration(max(secs, 0)) * time.Second}
	}
	return fmt.Errorf("internal deliver answered %d", res.StatusCode)
}

// busyError is a 503 from the target: worth one retry after retryAfter.
type busyError struct{ retryAfter time.Duration }

func (e *busyError) Error() string {
	return fmt.Sprintf("internal deliver answered 503 (retry after %s)", e.retryAfter)
}
