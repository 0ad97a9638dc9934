package testcluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Frame is a server frame as a test sees it.
type Frame struct {
	Type    string          `json:"type"`
	Ref     string          `json:"ref"`
	EventID string          `json:"event_id"`
	Data    json.RawMessage `json:"data"`
}

// Socket is a device's WebSocket that records every frame it receives.
type Socket struct {
	t      testing.TB
	conn   *websocket.Conn
	wmu    sync.Mutex // gorilla allows one writer at a time
	mu     sync.Mutex
	frames []Frame
	closed chan struct{}
	err    error
}

// Dial connects the client's device to its node's /v1/ws.
func (c *Client) Dial() *Socket {
	c.T.Helper()
	s, err := c.DialE()
	if err != nil {
		c.T.Fatal(err)
	}
	return s
}

// DialE is Dial returning the error instead of failing the test, for
// goroutines other than the test's.
func (c *Client) DialE() (*Socket, error) {
	url := "ws" + strings.TrimPrefix(c.Base, "http") + "/v1/ws"
	conn, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + c.Token}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	s := &Socket{t: c.T, conn: conn, closed: make(chan struct{})}
	go s.read()
	c.T.Cleanup(func() { conn.Close() })
	return s, nil
}

func (s *Socket) read() {
	defer close(s.closed)
	for {
		var f Frame
		if err := s.conn.ReadJSON(&f); err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.frames = append(s.frames, f)
		s.mu.Unlock()
	}
}

// Frames returns what arrived so far.
func (s *Socket) Frames() []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Frame(nil), s.frames...)
}

// MessageIDs counts message.new frames by message id.
func (s *Socket) MessageIDs() map[string]int {
	out := map[string]int{}
	for _, f := range s.Frames() {
		if f.Type != "message.new" {
			continue
		}
		var m struct{ ID string }
		_ = json.Unmarshal(f.Data, &m)
		out[m.ID]++
	}
	return out
}

// WaitFor polls until cond holds on the frames, or fails after timeout.
func (s *Socket) WaitFor(timeout time.Duration, what string, cond func([]Frame) bool) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(s.Frames()) {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; got %d frames", what, len(s.Frames()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Closed waits for the socket to end and returns the error it ended with.
func (s *Socket) Closed(timeout time.Duration) error {
	select {
	case <-s.closed:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.err
	case <-time.After(timeout):
		return nil
	}
}

// Close closes the socket from the client side.
func (s *Socket) Close() {
	_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = s.conn.Close()
	<-s.closed
}

// Send writes one client frame {"type", "ref", "data"}.
func (s *Socket) Send(typ, ref string, data any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteJSON(map[string]any{"type": typ, "ref": ref, "data": data})
}

// Reply waits for the frame answering ref (an ack or an error).
func (s *Socket) Reply(timeout time.Duration, ref string) Frame {
	s.t.Helper()
	var got Frame
	s.WaitFor(timeout, "the reply to "+ref, func(fs []Frame) bool {
		for _, f := range fs {
			if f.Ref == ref {
				got = f
				return true
			}
		}
		return false
	})
	return got
}
