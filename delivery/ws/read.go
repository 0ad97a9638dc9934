package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/internal/jsonscan"
)

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
	buf := c.hub.readBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	_, err = buf.ReadFrom(r)
	data := bytes.Clone(buf.Bytes())
	if buf.Cap() <= maxPooledRead {
		c.hub.readBuffers.Put(buf)
	}
	return typ, data, err
}

// maxPooledRead: a buffer grown past it by a rare large frame is dropped.
const maxPooledRead = 64 << 10

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
