package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/internal/jsonscan"
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

// run is the socket's reader goroutine: the read loop, then the cleanup.
func (c *Client) run(h Handler) {
	defer c.hub.wg.Done()
	// OnConnect (storage writes: route, presence) runs beside the read loop,
	// not before it: during a reconnect storm its writes queue up, and the
	// device's own frames must not wait behind them.
	connected := make(chan struct{})
	go func() {
		defer close(connected)
		if c.hub.cfg.OnConnect != nil {
			c.hub.cfg.OnConnect(c.id)
		}
		c.checkLive()
	}()
	err := c.readLoop(h)
	c.unbound()
	<-c.writerDone
	c.hub.unregister(c)
	<-connected
	if c.hub.cfg.OnDisconnect != nil {
		c.hub.cfg.OnDisconnect(c.id)
	}
	c.hub.log.Debug("websocket closed", "user", c.id.UserID, "device", c.id.DeviceID, "err", err)
}

func (c *Client) readLoop(h Handler) error {
	defer close(c.readDone)
	cfg := &c.hub.cfg
	c.conn.SetReadLimit(cfg.MaxFrameBytes)
	extend := func() { _ = c.conn.SetReadDeadline(time.Now().Add(cfg.PongTimeout)) }
	extend()
	c.conn.SetPongHandler(func(string) error { extend(); return nil })
	for {
		typ, data, err := c.readMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla has sent the 1009 close frame already.
				c.close(websocket.CloseMessageTooBig, "frame too large")
			} else {
				c.close(0, "") // the client closed, vanished or went silent
			}
			return err
		}
		extend()
		if c.ctx.Err() != nil {
			continue // closing: read on until the client answers our close frame
		}
		if typ != websocket.TextMessage {
			c.ReplyError("", "invalid_argument", "frames must be JSON text")
			continue
		}
		f, err := parseFrame(data)
		if errors.Is(err, errNotUTF8) {
			c.close(websocket.CloseInvalidFramePayloadData, "text frame is not valid UTF-8")
			continue
		}
		if err != nil {
			c.ReplyError("", "invalid_argument", `malformed frame: want a JSON object {"type", "ref", "data"}`)
			continue
		}
		if f.Type == "ping" {
			c.Reply(f.Ref, "pong", nil)
			continue
		}
		c.handle(h, f)
	}
}

// readMessage is gorilla's ReadMessage, which grows a fresh buffer from 512
// bytes for every frame (four allocations and copies for a 4 KB send), read
// through a pooled buffer instead and copied out once at its size: the
// frame's bytes are the handler's to keep (Frame.Data aliases them).
func (c *Client) readMessage() (int, []byte, error) {
	typ, r, err := c.conn.NextReader()
	if err != nil {
		return typ, nil, err
	}
	buf := readBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	_, err = buf.ReadFrom(r)
	data := bytes.Clone(buf.Bytes())
	if buf.Cap() <= maxPooledRead {
		readBuffers.Put(buf)
	}
	return typ, data, err
}

// maxPooledRead: a buffer grown past it by a rare large frame is dropped.
const maxPooledRead = 64 << 10

// readBuffers hold frames while they are read. Idle sockets hold none.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var (
	errNotUTF8   = errors.New("text frame is not valid UTF-8")
	errMalformed = errors.New("malformed frame")
)

// parseFrame reads one client text frame. gorilla does not check that text
// frames are UTF-8 (RFC 6455 wants 1007 for that) and encoding/json would
// silently turn bad bytes into U+FFFD, so errNotUTF8 comes first.
func parseFrame(data []byte) (Frame, error) {
	if !utf8.Valid(data) {
		return Frame{}, errNotUTF8
	}
	if f, ok := scanFrame(data); ok {
		return f, nil
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil || f.Type == "" {
		return Frame{}, errMalformed
	}
	return f, nil
}

// scanFrame is parseFrame's one pass over a UTF-8 frame as clients send it: an
// object of at most "type", "ref" (plain strings) and "data" (any value,
// checked, kept as its bytes). Anything else -- another key, an escape in
// a key, type or ref, a repeated key -- is not ok and goes to encoding/json,
// whose answer is the contract (FuzzParseFrame holds the two to one answer).
// Data aliases the frame's bytes, which the read loop never reuses.
func scanFrame(data []byte) (Frame, bool) {
	var f Frame
	var seen [3]bool
	end, ok := jsonscan.Object(data, jsonscan.Space(data, 0), func(key []byte, escaped bool, at int) (int, bool) {
		k := -1
		switch string(key) {
		case "type":
			k = 0
		case "ref":
			k = 1
		case "data":
			k = 2
		}
		if escaped || k < 0 || seen[k] {
			return 0, false
		}
		seen[k] = true
		if k == 2 {
			end, ok := jsonscan.Value(data, at)
			if ok {
				f.Data = data[at:end:end]
			}
			return end, ok
		}
		end, escaped, ok := jsonscan.String(data, at)
		if !ok || escaped {
			return 0, false
		}
		if k == 0 {
			f.Type = string(data[at+1 : end-1])
		} else {
			f.Ref = string(data[at+1 : end-1])
		}
		return end, true
	})
	return f, ok && jsonscan.Space(data, end) == len(data) && f.Type != ""
}

// handle runs the handler for one frame; a panic closes the socket with 1011
// rather than leaving it half-alive.
func (c *Client) handle(h Handler, f Frame) {
	defer func() {
		if p := recover(); p != nil {
			c.hub.log.Error("websocket frame handler panicked", "user", c.id.UserID, "device", c.id.DeviceID,
				"type", f.Type, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.close(websocket.CloseInternalServerErr, "internal error")
		}
	}()
	h.HandleFrame(c.ctx, c, f)
}
