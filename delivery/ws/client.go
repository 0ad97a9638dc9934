package ws

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// closeGrace is how long the writer waits, after sending a close frame,
	// for the client's answer before dropping the TCP connection. Closing at
	// once could reset the connection and lose the close frame on its way.
	closeGrace = time.Second
)

var syncRequiredFrame = []byte(`{"type":"sync.required"}`)

// Client is one WebSocket connection of one device. Its methods are safe for
// concurrent use.
type Client struct {
	hub    *Hub
	id     Identity
	conn   *websocket.Conn
	ctx    context.Context // cancelled when the socket starts closing
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   [][]byte // frames accepted and not yet taken by the writer; nil: a ping
	pending int      // frames accepted and not yet written: queue plus the writer's batch
	writing bool     // a writer goroutine is running (for good once closing)
	closing bool
	code    int // close code to send; 0: just drop the connection
	reason  string
	slow    bool // cut off for a full queue: say sync.required first

	expiry *time.Timer   // closes the socket when its session expires (Bounded)
	watch  *sessionWatch // re-checks its session (Bounded); nil otherwise

	readDone   chan struct{} // the read loop has ended
	writerDone chan struct{} // the last writer has ended and closed the connection
}

func newClient(h *Hub, conn *websocket.Conn, id Identity) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{hub: h, id: id, conn: conn, ctx: ctx, cancel: cancel,
		readDone: make(chan struct{}), writerDone: make(chan struct{})}
}

// Identity is who the socket belongs to.
func (c *Client) Identity() Identity { return c.id }

// Context is cancelled when the socket starts closing.
func (c *Client) Context() context.Context { return c.ctx }

// SendRaw queues frame, an encoded Frame, without blocking, and reports
// whether it was accepted. It is refused when the socket is closing, and a
// full queue cuts the socket off as a slow consumer (see the package
// comment). frame is not copied: do not modify it afterwards.
func (c *Client) SendRaw(frame []byte) bool { return c.enqueue(frame) }

// Send encodes f and queues it as SendRaw does.
func (c *Client) Send(f Frame) bool {
	b, err := json.Marshal(f)
	if err != nil {
		c.hub.log.Error("websocket frame not encodable", "type", f.Type, "err", err)
		return false
	}
	return c.enqueue(b)
}

// Reply answers a client frame with {"type": typ, "ref": ref, "data": data};
// a nil data is left out.
func (c *Client) Reply(ref, typ string, data any) bool {
	// Encoded in one pass: marshalling data first and then a Frame around it
	// would have encoding/json validate and compact the data a second time.
	b, err := json.Marshal(reply{Type: typ, Ref: ref, Data: data})
	if err != nil {
		c.hub.log.Error("websocket reply not encodable", "type", typ, "err", err)
		return false
	}
	return c.enqueue(b)
}

// ReplyRaw is Reply with data already encoded (valid JSON, as compact as
// encoding/json writes it), given as parts to join: the frame is assembled
// around them in one copy, byte for byte what Reply would send, without
// encoding them again.
func (c *Client) ReplyRaw(ref, typ string, data ...[]byte) bool {
	return c.enqueue(rawReply(ref, typ, data...))
}

func rawReply(ref, typ string, data ...[]byte) []byte {
	head, err := json.Marshal(reply{Type: typ, Ref: ref})
	if err != nil { // strings always encode
		panic(err)
	}
	n := len(head) + 8
	for _, d := range data {
		n += len(d)
	}
	b := make([]byte, 0, n)
	b = append(b, head[:len(head)-1]...)
	b = append(b, `,"data":`...)
	for _, d := range data {
		b = append(b, d...)
	}
	return append(b, '}')
}

// reply is a Frame whose data is not encoded yet.
type reply struct {
	Type string `json:"type"`
	Ref  string `json:"ref,omitempty"`
	Data any    `json:"data,omitempty"`
}

// ReplyError answers a client frame with
// {"type": "error", "ref": ref, "data": {"code": code, "message": message}},
// code being one of the API's error codes (invalid_argument, ...).
func (c *Client) ReplyError(ref, code, message string) bool {
	return c.Reply(ref, "error", errorData{Code: code, Message: message})
}

type errorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (c *Client) enqueue(frame []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	if c.pending >= c.hub.cfg.SendQueue {
		c.startCloseLocked(CloseSlowConsumer, "send queue full: reconnect and sync", true)
		c.hub.dropped.Add(1)
		return false
	}
	c.queue = append(c.queue, frame)
	c.pending++
	c.startWriterLocked()
	return true
}

// ping queues a WebSocket ping (a nil entry in the queue); the hub's pinger
// calls it every Config.PingInterval.
func (c *Client) ping() { c.enqueue(nil) }

// startWriterLocked starts a writer goroutine unless one is running: a
// socket has one only while it has something to write or is closing, so an
// idle socket costs no writer stack.
func (c *Client) startWriterLocked() {
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// close starts closing the socket with code (0: no close frame); the first
// call wins. Frames still queued are discarded.
func (c *Client) close(code int, reason string) {
	c.mu.Lock()
	c.startCloseLocked(code, reason, false)
	c.mu.Unlock()
}

func (c *Client) startCloseLocked(code int, reason string, slow bool) {
	if c.closing {
		return
	}
	c.closing, c.code, c.reason, c.slow = true, code, reason, slow
	c.queue = nil
	c.cancel()
	c.startWriterLocked() // the writer says goodbye and closes the connection
}

// next hands the writer every queued frame. With none queued the writer
// ends (both results zero); once the socket is closing it says goodbye, and
// writing stays true so no other writer starts.
func (c *Client) next() (batch [][]byte, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil, true
	}
	if len(c.queue) == 0 {
		c.writing = false
		return nil, false
	}
	batch, c.queue = c.queue, nil
	return batch, false
}

func (c *Client) wrote() {
	c.mu.Lock()
	c.pending--
	c.mu.Unlock()
}

// writeLoop is the socket's only writer of frames and pings while it runs.
// It ends when the queue is empty, or by closing the connection (which also
// ends the read loop) and writerDone.
func (c *Client) writeLoop() {
	for {
		batch, closing := c.next()
		if closing {
			c.goodbye()
			close(c.writerDone)
			return
		}
		if batch == nil {
			return
		}
		for i, frame := range batch {
			if c.ctx.Err() != nil {
				break // closing: next says goodbye
			}
			var err error
			if frame == nil {
				err = c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteTimeout))
			} else {
				err = c.write(frame)
			}
			batch[i] = nil
			if err != nil {
				c.drop(err)
				close(c.writerDone)
				return
			}
			c.wrote()
		}
	}
}

func (c *Client) write(frame []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	return c.conn.WriteMessage(websocket.TextMessage, frame)
}

// drop ends a connection whose write failed (a dead or stalled client).
func (c *Client) drop(err error) {
	c.mu.Lock()
	slow := c.slow
	c.startCloseLocked(0, "", false)
	c.mu.Unlock()
	if slow {
		c.hub.log.Info("websocket slow consumer dropped: it stopped reading",
			"user", c.id.UserID, "device", c.id.DeviceID, "err", err)
	} else {
		c.hub.log.Debug("websocket write failed", "user", c.id.UserID, "device", c.id.DeviceID, "err", err)
	}
	_ = c.conn.Close()
}

// goodbye closes the connection as close asked: sync.required first for a
// slow consumer, then the close frame, then (after the client's answer or
// closeGrace) the TCP connection.
func (c *Client) goodbye() {
	c.mu.Lock()
	code, reason, slow := c.code, c.reason, c.slow
	c.mu.Unlock()
	if slow {
		c.hub.log.Info("websocket slow consumer cut off", "user", c.id.UserID, "device", c.id.DeviceID,
			"queue", c.hub.cfg.SendQueue)
		if err := c.write(syncRequiredFrame); err != nil {
			_ = c.conn.Close()
			return
		}
	}
	if code != 0 {
		msg := websocket.FormatCloseMessage(code, reason)
		if c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.hub.cfg.WriteTimeout)) == nil {
			t := time.NewTimer(closeGrace)
			select {
			case <-c.readDone:
			case <-t.C:
			}
			t.Stop()
		}
	}
	_ = c.conn.Close()
}
