package ws

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Client is one WebSocket connection.
type Client struct {
	hub        *Hub
	id         Identity
	conn       *websocket.Conn
	send       chan []byte
	done       chan struct{} // closed to make the writer say goodbye and stop
	writerDone chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc

	closeOnce    sync.Once
	closeCode    int
	closeReason  string
	syncRequired bool
}

func newClient(h *Hub, conn *websocket.Conn, id Identity) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{hub: h, id: id, conn: conn, send: make(chan []byte, h.cfg.SendQueue),
		done: make(chan struct{}), writerDone: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// Identity is who the socket belongs to.
func (c *Client) Identity() Identity { return c.id }

// Context ends when the connection does.
func (c *Client) Context() context.Context { return c.ctx }

// SendRaw queues an encoded frame without blocking. A full queue cuts the
// client off (sync.required, then close) and returns false.
func (c *Client) SendRaw(frame []byte) bool { return c.enqueue(frame) }

// Send encodes and queues a frame.
func (c *Client) Send(f Frame) bool {
	b, err := json.Marshal(f)
	if err != nil {
		return false
	}
	return c.enqueue(b)
}

// Reply answers a client frame: {"type": typ, "ref": ref, "data": data}.
func (c *Client) Reply(ref, typ string, data any) bool {
	raw, err := json.Marshal(data)
	if err != nil {
		return false
	}
	return c.Send(Frame{Type: typ, Ref: ref, Data: raw})
}

// ReplyError answers a client frame with an error frame.
func (c *Client) ReplyError(ref, code, message string) bool {
	return c.Reply(ref, "error", map[string]string{"code": code, "message": message})
}

func (c *Client) enqueue(frame []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.send <- frame:
		return true
	default:
		c.hub.dropped.Add(1)
		c.close(CloseSlowConsumer, "send queue full: reconnect and sync", true)
		// The writer is most likely stuck in a write to a full socket: end that
		// write now rather than after WriteTimeout. If the socket has room,
		// the writer still says sync.required before closing.
		_ = c.conn.NetConn().SetWriteDeadline(time.Now())
		return false
	}
}

// close asks the writer to end the connection with code; the first call wins.
func (c *Client) close(code int, reason string, syncRequired bool) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason, c.syncRequired = code, reason, syncRequired
		close(c.done)
		c.cancel()
	})
}

var syncRequiredFrame = []byte(`{"type":"sync.required"}`)

func (c *Client) writeLoop() {
	defer close(c.writerDone)
	defer c.conn.Close() // also ends the read loop
	ping := time.NewTicker(c.hub.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case frame := <-c.send:
			if c.write(websocket.TextMessage, frame) != nil {
				c.close(websocket.CloseAbnormalClosure, "", false)
				return
			}
		case <-ping.C:
			if c.write(websocket.PingMessage, nil) != nil {
				c.close(websocket.CloseAbnormalClosure, "", false)
				return
			}
		case <-c.done:
			// Frames still queued are dropped: the client syncs after reconnecting.
			if c.syncRequired {
				_ = c.write(websocket.TextMessage, syncRequiredFrame)
			}
			msg := websocket.FormatCloseMessage(c.closeCode, c.closeReason)
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return
		}
	}
}

func (c *Client) write(typ int, data []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	return c.conn.WriteMessage(typ, data)
}

type pongData struct{}

func (c *Client) readLoop(h Handler) error {
	cfg := c.hub.cfg
	c.conn.SetReadLimit(cfg.MaxFrameBytes)
	extend := func() { _ = c.conn.SetReadDeadline(time.Now().Add(cfg.PongTimeout)) }
	extend()
	c.conn.SetPongHandler(func(string) error { extend(); return nil })
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.close(websocket.CloseMessageTooBig, "frame too large", false)
			}
			return err
		}
		extend()
		if typ != websocket.TextMessage {
			c.ReplyError("", "invalid_argument", "frames must be JSON text")
			continue
		}
		var f Frame
		if err := json.Unmarshal(data, &f); err != nil || f.Type == "" {
			c.ReplyError("", "invalid_argument", "malformed frame: want {\"type\", \"ref\", \"data\"}")
			continue
		}
		if f.Type == "ping" {
			c.Reply(f.Ref, "pong", pongData{})
			continue
		}
		h.HandleFrame(c.ctx, c, f)
	}
}
