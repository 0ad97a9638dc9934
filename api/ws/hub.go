// Package ws holds one chatd node's WebSocket connections: the Hub indexes
// them by user, and each Client runs one reader and one writer goroutine with
// a bounded send queue.
//
// Delivery is at most once per socket: a frame is queued without blocking,
// and a device whose queue is full is not waited for. It gets a final
// sync.required frame and is closed with CloseSlowConsumer; it reconnects and
// calls sync, which returns everything it missed (at least once overall).
package ws

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes chatd uses besides the standard ones.
const (
	// CloseSlowConsumer: the device's send queue overflowed; reconnect and sync.
	CloseSlowConsumer = 4008
	// CloseServiceRestart (1012): the node is shutting down; reconnect elsewhere.
	CloseServiceRestart = websocket.CloseServiceRestart
)

// Frame is the wire format: JSON text frames.
type Frame struct {
	Type string          `json:"type"`
	Ref  string          `json:"ref,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Identity is who a socket belongs to.
type Identity struct{ UserID, DeviceID int64 }

// Handler answers client frames other than ping. The hub calls it from the
// connection's read goroutine, one frame at a time per connection, so a slow
// frame delays that connection's next frames only.
type Handler interface {
	HandleFrame(ctx context.Context, c *Client, f Frame)
}

// Config bounds each connection; zero values take the defaults.
type Config struct {
	SendQueue     int           // frames queued per connection (default 128)
	WriteTimeout  time.Duration // one frame's write (default 10s)
	PingInterval  time.Duration // server pings (default 25s)
	PongTimeout   time.Duration // close when nothing is read this long (default 60s)
	MaxFrameBytes int64         // largest client frame (default 16 KiB; past it: close 1009)
	CheckOrigin   func(*http.Request) bool
	OnConnect     func(Identity) // called after registration (presence)
	OnDisconnect  func(Identity) // called after unregistration
}

func (c Config) withDefaults() Config {
	if c.SendQueue <= 0 {
		c.SendQueue = 128
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 60 * time.Second
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 16 << 10
	}
	if c.CheckOrigin == nil {
		// Browsers authenticate with single-use tickets, not cookies, so a
		// cross-origin page cannot ride on a user's session.
		c.CheckOrigin = func(*http.Request) bool { return true }
	}
	return c
}

const shardCount = 64

type shard struct {
	mu    sync.RWMutex
	users map[int64]map[*Client]struct{}
}

// Stats are counters for metrics.
type Stats struct {
	Connections int64
	Dropped     int64 // devices cut off because their queue was full
}

// Hub is this node's set of connections.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	shards   [shardCount]shard
	conns    atomic.Int64
	dropped  atomic.Int64

	// lifeMu orders "a socket starts" against Shutdown, so no socket joins wg
	// once Shutdown waits on it.
	lifeMu  sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

// writeBuffers is shared by every connection: an idle socket holds no write buffer.
var writeBuffers sync.Pool

// NewHub makes an empty hub.
func NewHub(cfg Config, log *slog.Logger) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{cfg: cfg, log: log}
	h.upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024,
		WriteBufferPool: &writeBuffers, CheckOrigin: cfg.CheckOrigin, HandshakeTimeout: 10 * time.Second}
	for i := range h.shards {
		h.shards[i].users = map[int64]map[*Client]struct{}{}
	}
	return h
}

func (h *Hub) shard(userID int64) *shard {
	return &h.shards[uint64(userID)%shardCount]
}

// Serve upgrades the request and runs the connection until it ends.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, id Identity, handler Handler) error {
	h.lifeMu.Lock()
	if h.closing {
		h.lifeMu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return nil
	}
	h.wg.Add(1)
	h.lifeMu.Unlock()
	defer h.wg.Done()
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return err // the upgrader has answered the client
	}
	c := newClient(h, conn, id)
	h.register(c)
	h.lifeMu.Lock()
	late := h.closing // Shutdown began while this socket was upgrading: it missed it
	h.lifeMu.Unlock()
	if late {
		c.close(CloseServiceRestart, "server restarting", false)
	}
	go c.writeLoop()
	err = c.readLoop(handler)
	h.unregister(c)
	c.close(websocket.CloseNormalClosure, "", false)
	<-c.writerDone
	return err
}

func (h *Hub) register(c *Client) {
	s := h.shard(c.id.UserID)
	s.mu.Lock()
	devs := s.users[c.id.UserID]
	if devs == nil {
		devs = map[*Client]struct{}{}
		s.users[c.id.UserID] = devs
	}
	devs[c] = struct{}{}
	s.mu.Unlock()
	h.conns.Add(1)
	if h.cfg.OnConnect != nil {
		h.cfg.OnConnect(c.id)
	}
}

func (h *Hub) unregister(c *Client) {
	s := h.shard(c.id.UserID)
	s.mu.Lock()
	if devs := s.users[c.id.UserID]; devs != nil {
		delete(devs, c)
		if len(devs) == 0 {
			delete(s.users, c.id.UserID)
		}
	}
	s.mu.Unlock()
	h.conns.Add(-1)
	if h.cfg.OnDisconnect != nil {
		h.cfg.OnDisconnect(c.id)
	}
}

// each calls fn for every connected device of userID, under the shard's read lock.
func (h *Hub) each(userID int64, fn func(*Client)) {
	s := h.shard(userID)
	s.mu.RLock()
	for c := range s.users[userID] {
		fn(c)
	}
	s.mu.RUnlock()
}

// Deliver queues an encoded frame to every connected device of the users,
// never blocking; it returns how many devices it was queued to.
func (h *Hub) Deliver(userIDs []int64, frame []byte) int {
	return h.DeliverExcept(userIDs, Identity{}, frame)
}

// DeliverExcept is Deliver that skips one device (typing goes to everyone but its source).
func (h *Hub) DeliverExcept(userIDs []int64, except Identity, frame []byte) int {
	n := 0
	for _, uid := range userIDs {
		h.each(uid, func(c *Client) {
			if c.id != except && c.enqueue(frame) {
				n++
			}
		})
	}
	return n
}

// ConnectedDevices lists the device ids of userID connected here.
func (h *Hub) ConnectedDevices(userID int64) []int64 {
	var ids []int64
	h.each(userID, func(c *Client) { ids = append(ids, c.id.DeviceID) })
	return ids
}

// ConnectedUsers lists the users with at least one socket here.
func (h *Hub) ConnectedUsers() []int64 {
	var ids []int64
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for uid := range s.users {
			ids = append(ids, uid)
		}
		s.mu.RUnlock()
	}
	return ids
}

// CloseDevice closes one device's sockets (a revoked device).
func (h *Hub) CloseDevice(userID, deviceID int64, code int, reason string) {
	h.each(userID, func(c *Client) {
		if c.id.DeviceID == deviceID {
			c.close(code, reason, false)
		}
	})
}

// Count is the number of open connections.
func (h *Hub) Count() int { return int(h.conns.Load()) }

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{Connections: h.conns.Load(), Dropped: h.dropped.Load()}
}

// Shutdown refuses new sockets, closes every open one with 1012 (so clients
// reconnect to another node) and waits for them to finish, or for ctx.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.lifeMu.Lock()
	h.closing = true
	h.lifeMu.Unlock()
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, devs := range s.users {
			for c := range devs {
				c.close(CloseServiceRestart, "server restarting", false)
			}
		}
		s.mu.RUnlock()
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
