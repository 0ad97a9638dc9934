// Package ws holds one chatd node's WebSocket connections.
//
// A Hub indexes this node's sockets by user and device. Each socket is a
// Client with a reader goroutine, which answers ping frames itself and
// passes every other client frame to a Handler, one at a time; and, only
// while it has frames queued in its bounded send queue (or is closing), a
// writer goroutine, the only one that writes to the socket.
//
// # Framing
//
// Frames are JSON text messages, {"type", "ref", "data"} (see Frame). A
// client frame larger than Config.MaxFrameBytes closes the socket with 1009,
// a text frame that is not valid UTF-8 with 1007 (unprocessed).
// A frame that is not a JSON object with a "type" (or a binary message) is
// answered with an error frame, code invalid_argument, and the socket stays
// open. {"type":"ping","ref":r} is answered {"type":"pong","ref":r} by the
// hub; handlers never see it.
//
// # Keepalive
//
// Every socket gets a WebSocket ping control frame every Config.PingInterval
// (one hub goroutine queues them, shard by shard).
// Anything read from the client (a frame, or the pong that every WebSocket
// client library sends automatically) extends the read deadline to
// Config.PongTimeout; a socket silent that long is dropped.
//
// # Delivery and slow consumers
//
// Deliver and the Client's Send methods queue an already-encoded frame and
// return at once: they never wait for a socket. Frames queued to one socket
// are written in the order they were queued. Delivery is at most once per
// socket; clients get everything they missed from sync after reconnecting.
//
// A socket holds at most Config.SendQueue frames that are accepted but not
// yet written. Queueing one more cuts the socket off (counted in
// Stats.Dropped): the queued frames are discarded, no further frame is
// accepted (Deliver does not count the socket), and the writer,
// once its current write ends, writes {"type":"sync.required"} and closes
// with CloseSlowConsumer (4008). A client that has stopped reading
// altogether does not get those: its writer gives up after
// Config.WriteTimeout and drops the connection (the client sees 1006).
// Either way the client reconnects and calls sync; nobody else waits.
//
// # Close codes
//
//   - 1000: the client closed, or the socket ended normally.
//   - 1007: a text frame was not valid UTF-8.
//   - 1008: the device was revoked or logged out (chosen by the caller of
//     CloseDevice), or the socket's session expired or had ended (Bounded).
//   - 1009: a client frame exceeded Config.MaxFrameBytes.
//   - 1011: the Handler panicked.
//   - 1012 (CloseServiceRestart): the node is shutting down; reconnect.
//   - 4008 (CloseSlowConsumer): the send queue overflowed; reconnect and sync.
//
// # Memory
//
// An idle socket holds one goroutine stack (its reader's), a 512-byte read
// buffer and a few hundred bytes of bookkeeping (chatd's whole cost per
// connection is measured by `ringchat-bench -workload idle`). Write buffers
// come from a shared pool and are held only while a frame is being
// written; the send queue is allocated as frames arrive and released when
// drained; the writer goroutine exists only while there is something to
// write. Serve returns as soon as the socket is running, so the HTTP
// server's per-request goroutine and its 8 KB of buffers are freed rather
// than pinned for the socket's life.
package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes the hub sends besides the standard ones.
const (
	// CloseSlowConsumer (4008) closes a socket whose send queue overflowed;
	// the client should reconnect and sync.
	CloseSlowConsumer = 4008
	// CloseServiceRestart (1012) closes every socket when the node shuts
	// down; the client should reconnect (to any node) and sync.
	CloseServiceRestart = websocket.CloseServiceRestart
)

// ErrHubClosed is returned by Serve once Shutdown has begun.
var ErrHubClosed = errors.New("ws: hub is shutting down")

// Frame is the wire format: one JSON text message.
type Frame struct {
	Type string          `json:"type"`
	Ref  string          `json:"ref,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Identity is who a socket belongs to.
type Identity struct{ UserID, DeviceID int64 }

// Handler answers the client frames other than ping.
//
// The hub calls HandleFrame from the socket's read goroutine, one frame at a
// time per socket, in the order the frames arrived: while it runs, that
// socket reads nothing more (its other sockets and everyone else's are not
// affected). A few milliseconds per frame is fine; much longer delays the
// client's next frames, and past Config.PongTimeout the socket is dropped as
// silent. ctx is the Client's context, cancelled when the socket starts
// closing; work that must finish regardless (an acknowledged write) should
// detach from it. A panic closes the socket with 1011.
type Handler interface {
	HandleFrame(ctx context.Context, c *Client, f Frame)
}

const (
	// readBufferSize is held by every socket for its life. Client frames are
	// small, and bufio reads a payload larger than this straight into the
	// message buffer, so a small buffer costs no extra system calls.
	readBufferSize = 512
	// writeBufferSize is borrowed from Hub.writeBuffers for one frame's write:
	// large enough that a full-size message (4 KB body plus envelope) goes
	// out as one WebSocket frame in one system call.
	writeBufferSize = 8 << 10
	// shardCount spreads the user index over this many locks.
	shardCount = 64
)

type shard struct {
	mu    sync.RWMutex
	users map[int64][]*Client // a user's sockets here, usually one per device
	_     [32]byte            // keep shards on separate cache lines
}

// Stats are the hub's counters, for metrics.
type Stats struct {
	Connections int64 // open sockets
	Dropped     int64 // sockets cut off as slow consumers since NewHub
}

// Hub is this node's set of sockets. Its methods are safe for concurrent use.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	shards   [shardCount]shard

	conns   atomic.Int64
	dropped atomic.Int64

	epoch   time.Time                // the hub clock's zero (see clock)
	covered atomic.Pointer[coverage] // the feed of ended sessions' reach; nil: never read

	// writeBuffers lend a socket a write buffer for one frame's write, and
	// readBuffers hold a frame while it is read: idle sockets hold neither.
	writeBuffers sync.Pool
	readBuffers  sync.Pool

	stopPings chan struct{} // closed by Shutdown; ends the pinger
	pingsDone chan struct{}
	stopOnce  sync.Once

	// lifeMu orders a socket's start against Shutdown: no socket joins wg
	// once Shutdown has begun waiting on it.
	lifeMu  sync.Mutex
	closing atomic.Bool
	wg      sync.WaitGroup // one per socket, from upgrade to its last goroutine's end
}

// NewHub returns an empty hub. A nil log discards.
func NewHub(cfg Config, log *slog.Logger) *Hub {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{cfg: cfg, log: log, epoch: time.Now()}
	h.readBuffers.New = func() any { return new(bytes.Buffer) }
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  writeBufferSize,
		WriteBufferPool:  &h.writeBuffers,
		CheckOrigin:      cfg.CheckOrigin,
	}
	for i := range h.shards {
		h.shards[i].users = map[int64][]*Client{}
	}
	h.stopPings, h.pingsDone = make(chan struct{}), make(chan struct{})
	go h.pinger()
	return h
}

func (h *Hub) shard(userID int64) *shard {
	return &h.shards[uint64(userID)%shardCount]
}

// Serve upgrades the request to a WebSocket for id and starts the socket:
// it registers it (so Deliver reaches it), starts its reader and OnConnect,
// and returns. It does not wait for the
// socket to end: the socket runs until the client leaves, CloseDevice or
// Shutdown. handler gets the socket's client frames.
//
// When the upgrade fails, Serve returns its error, and the upgrader has
// already answered the request. Once Shutdown has begun, Serve answers 503
// with Retry-After and returns ErrHubClosed.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, id Identity, handler Handler) error {
	if !h.enter() {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"server restarting"}}` + "\n"))
		return ErrHubClosed
	}
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.wg.Done()
		return err
	}
	c := newClient(h, conn, id)
	if b, ok := handler.(Bounded); ok {
		c.bound(b)
	}
	h.register(c)
	if h.closing.Load() {
		// Shutdown began while this socket was upgrading and may have
		// missed it: close it as Shutdown would have.
		c.close(CloseServiceRestart, "server restarting")
	}
	// OnConnect runs off this goroutine: the HTTP server's goroutine and
	// buffers are freed as soon as the upgrade is done, even while a
	// connection storm queues OnConnect's storage writes.
	go c.run(handler)
	return nil
}

// enter counts a socket in, unless Shutdown has begun.
func (h *Hub) enter() bool {
	h.lifeMu.Lock()
	defer h.lifeMu.Unlock()
	if h.closing.Load() {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Hub) register(c *Client) {
	s := h.shard(c.id.UserID)
	s.mu.Lock()
	s.users[c.id.UserID] = append(s.users[c.id.UserID], c)
	s.mu.Unlock()
	h.conns.Add(1)
}

func (h *Hub) unregister(c *Client) {
	s := h.shard(c.id.UserID)
	s.mu.Lock()
	cs := s.users[c.id.UserID]
	for i, x := range cs {
		if x == c {
			last := len(cs) - 1
			cs[i], cs[last] = cs[last], nil
			cs = cs[:last]
			break
		}
	}
	if len(cs) == 0 {
		delete(s.users, c.id.UserID)
	} else {
		s.users[c.id.UserID] = cs
	}
	s.mu.Unlock()
	h.conns.Add(-1)
}

// each calls fn for every socket of userID, under the shard's read lock; fn
// must not block.
func (h *Hub) each(userID int64, fn func(*Client)) {
	s := h.shard(userID)
	s.mu.RLock()
	for _, c := range s.users[userID] {
		fn(c)
	}
	s.mu.RUnlock()
}

// Deliver queues frame, an encoded Frame, to every socket of the users
// connected to this node, and returns how many sockets accepted it. It never
// blocks: a socket whose queue is full is cut off as a slow consumer (see
// the package comment) and not counted. frame is shared, not copied: do not
// modify it afterwards. A user listed twice gets the frame twice.
func (h *Hub) Deliver(userIDs []int64, frame []byte) int {
	n := 0
	for _, uid := range userIDs {
		h.each(uid, func(c *Client) {
			if c.enqueue(frame) {
				n++
			}
		})
	}
	return n
}

// ConnectedDevices lists the device ids of userID's sockets on this node,
// one entry per socket, closing ones included until they are gone.
func (h *Hub) ConnectedDevices(userID int64) []int64 {
	var ids []int64
	h.each(userID, func(c *Client) { ids = append(ids, c.id.DeviceID) })
	return ids
}

// ConnectedUsers lists the users with at least one socket on this node.
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

// CloseDevice closes every socket of one device with code and reason (for a
// revoked device, 1008 "device revoked"). Frames still queued are discarded.
// It returns at once; the sockets finish closing in the background.
func (h *Hub) CloseDevice(userID, deviceID int64, code int, reason string) {
	h.each(userID, func(c *Client) {
		if c.id.DeviceID == deviceID {
			c.close(code, reason)
		}
	})
}

// Count is the number of open sockets.
func (h *Hub) Count() int { return int(h.conns.Load()) }

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{Connections: h.conns.Load(), Dropped: h.dropped.Load()}
}
