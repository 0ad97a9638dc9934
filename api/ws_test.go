package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

type frame struct {
	Type    string          `json:"type"`
	Ref     string          `json:"ref"`
	EventID string          `json:"event_id"`
	Data    json.RawMessage `json:"data"`
}

type wsConn struct {
	t    testing.TB
	conn *websocket.Conn
}

func (e *env) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/ws" + query
}

// dial opens the device's socket with its bearer header.
func (c *client) dial() *wsConn {
	c.t.Helper()
	h := http.Header{"Authorization": {"Bearer " + c.token}}
	conn, r, err := websocket.DefaultDialer.Dial(c.e.wsURL(""), h)
	if err != nil {
		c.t.Fatalf("dial: %v (%v)", err, r)
	}
	c.t.Cleanup(func() { conn.Close() })
	return &wsConn{t: c.t, conn: conn}
}

// dialSmallBuffer dials with a small TCP receive buffer (no autotuning), so a
// client that does not read pushes back on the server sooner. Not smaller:
// with a few KiB of window, draining the socket afterwards crawls.
func (c *client) dialSmallBuffer() *wsConn {
	c.t.Helper()
	d := *websocket.DefaultDialer
	d.NetDial = func(network, addr string) (net.Conn, error) {
		conn, err := net.Dial(network, addr)
		if err == nil {
			_ = conn.(*net.TCPConn).SetReadBuffer(32 << 10)
		}
		return conn, err
	}
	conn, _, err := d.Dial(c.e.wsURL(""), http.Header{"Authorization": {"Bearer " + c.token}})
	if err != nil {
		c.t.Fatalf("dial: %v", err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return &wsConn{t: c.t, conn: conn}
}

func (w *wsConn) write(typ, ref string, data any) {
	w.t.Helper()
	raw, _ := json.Marshal(data)
	if err := w.conn.WriteJSON(frame{Type: typ, Ref: ref, Data: raw}); err != nil {
		w.t.Fatal(err)
	}
}

// next reads frames until one of type typ arrives (skipping others).
func (w *wsConn) next(typ string) frame {
	w.t.Helper()
	f := w.nextOf(typ)
	if f.Type != typ {
		w.t.FailNow()
	}
	return f
}

// nextOf reads frames until one of the given types arrives; a read that
// fails is reported (t.Errorf, so it may run on any goroutine) and returns
// a frame of none of them.
func (w *wsConn) nextOf(types ...string) frame {
	w.t.Helper()
	w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f frame
		if err := w.conn.ReadJSON(&f); err != nil {
			w.t.Errorf("waiting for %v: %v", types, err)
			return frame{Type: "read failed"}
		}
		for _, typ := range types {
			if f.Type == typ {
				return f
			}
		}
	}
}

func msgID(t testing.TB, f frame) string {
	var m struct {
		Message struct{ ID string } `json:"message"`
		ID      string              `json:"id"`
	}
	if err := json.Unmarshal(f.Data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Message.ID != "" {
		return m.Message.ID
	}
	return m.ID
}

func TestWebSocketSendReachesEveryDevice(t *testing.T) {
	e := newEnv(t)
	a1, b1 := e.newUser("wa"), e.newUser("wb")
	a2, b2 := e.login(a1.handle), e.login(b1.handle)
	conv := a1.direct(b1)

	sa1, sa2, sb1 := a1.dial(), a2.dial(), b1.dial()
	// b2 is a browser: it authenticates with a single-use ticket.
	tr := b2.do("POST", "/v1/ws/tickets", nil)
	expect(t, tr, 201)
	ticket := tr.body["ticket"].(string)
	conn, _, err := websocket.DefaultDialer.Dial(e.wsURL("?ticket="+ticket), nil)
	if err != nil {
		t.Fatalf("ticket dial: %v", err)
	}
	defer conn.Close()
	sb2 := &wsConn{t: t, conn: conn}

	sa1.write("message.send", "r1", map[string]any{"conversation_id": conv, "client_msg_id": "ws-1", "body": "over the socket"})
	ack := sa1.next("ack")
	if ack.Ref != "r1" {
		t.Fatalf("ack ref %q", ack.Ref)
	}
	id := msgID(t, ack)
	for name, s := range map[string]*wsConn{"sender's other device": sa2, "recipient": sb1, "recipient's ticket device": sb2} {
		f := s.next("message.new")
		if got := msgID(t, f); got != id || f.EventID == "" {
			t.Fatalf("%s got message %s (event %q), want %s", name, got, f.EventID, id)
		}
	}

	t.Run("REST sends are pushed too", func(t *testing.T) {
		m := b1.mustSend(conv, "from REST")
		for _, s := range []*wsConn{sa1, sa2, sb2} {
			if got := msgID(t, s.next("message.new")); got != m["id"] {
				t.Fatalf("got %s want %s", got, m["id"])
			}
		}
	})
	t.Run("ticket is single use", func(t *testing.T) {
		_, r, err := websocket.DefaultDialer.Dial(e.wsURL("?ticket="+ticket), nil)
		if err == nil || r == nil || r.StatusCode != 401 {
			t.Fatalf("second use of a ticket: err %v, response %v", err, r)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		_, r, err := websocket.DefaultDialer.Dial(e.wsURL(""), nil)
		if err == nil || r == nil || r.StatusCode != 401 {
			t.Fatalf("anonymous socket: err %v, response %v", err, r)
		}
	})
	t.Run("ping pong", func(t *testing.T) {
		sa1.write("ping", "p1", nil)
		if f := sa1.next("pong"); f.Ref != "p1" {
			t.Fatalf("pong ref %q", f.Ref)
		}
	})
	t.Run("errors answer the frame", func(t *testing.T) {
		sa1.write("message.send", "bad1", map[string]any{"conversation_id": conv, "client_msg_id": "ws-2", "body": ""})
		f := sa1.next("error")
		if f.Ref != "bad1" || !strings.Contains(string(f.Data), "invalid_argument") {
			t.Fatalf("error frame %s", f.Data)
		}
		sa1.write("no.such.frame", "bad2", nil)
		if f := sa1.next("error"); f.Ref != "bad2" {
			t.Fatalf("unknown frame answered with %+v", f)
		}
		outsider := e.newUser("wo").dial()
		outsider.write("message.send", "bad3", map[string]any{"conversation_id": conv, "client_msg_id": "ws-3", "body": "hi"})
		if f := outsider.next("error"); !strings.Contains(string(f.Data), "permission_denied") {
			t.Fatalf("non-member send: %s", f.Data)
		}
	})
	t.Run("ack is idempotent on client_msg_id", func(t *testing.T) {
		sa1.write("message.send", "r2", map[string]any{"conversation_id": conv, "client_msg_id": "ws-1", "body": "over the socket"})
		if got := msgID(t, sa1.next("ack")); got != id {
			t.Fatalf("retried frame made message %s, first was %s", got, id)
		}
	})
}

// TestSlowClientIsCutOff: a device that never reads gets sync.required and is
// disconnected, while the others keep receiving everything in order.
func TestSlowClientIsCutOff(t *testing.T) {
	e := newEnv(t, func(_ *api.Config, _ *repo.Retention, w *ws.Config) { w.SendQueue = 16 })
	a, b := e.newUser("qa"), e.newUser("qb")
	conv := a.direct(b)
	slow := e.login(b.handle).dialSmallBuffer() // never reads until the end
	fast := b.dial()

	// Enough bytes (about 5 MB) to fill the kernel's socket buffers as well as the queue.
	const n = 1200
	body := strings.Repeat("😀", 995)
	var got []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for len(got) < n {
			f := fast.next("message.new")
			got = append(got, msgID(t, f))
		}
	}()
	var sent []string
	start := time.Now()
	for i := 0; i < n; i++ {
		sent = append(sent, a.mustSend(conv, fmt.Sprintf("%03d %s", i, body))["id"].(string))
	}
	sendTime := time.Since(start)
	wg.Wait()
	if strings.Join(got, ",") != strings.Join(sent, ",") {
		t.Fatalf("fast client missed or reordered messages")
	}
	// The slow socket was cut off, not waited for: reading it now drains what
	// the kernel buffered and then ends, by the server, well before the read
	// deadline. When the socket had room, sync.required is the last frame.
	if e.hub.Stats().Dropped < 1 {
		t.Fatal("the hub never cut off the device that does not read")
	}
	slow.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	last := ""
	for {
		var f frame
		err := slow.conn.ReadJSON(&f)
		if err == nil {
			last = f.Type
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("slow socket still open: the server never closed it")
		}
		// 1006: the server dropped the connection because its writer was stuck on a
		// full socket (no room for a goodbye). Otherwise it said goodbye with 4008.
		if ce, ok := err.(*websocket.CloseError); ok && ce.Code != ws.CloseSlowConsumer && ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("closed with %d, want %d or 1006", ce.Code, ws.CloseSlowConsumer)
		}
		if websocket.IsCloseError(err, ws.CloseSlowConsumer) && last != "sync.required" {
			t.Fatalf("closed cleanly, but the last frame was %q, not sync.required", last)
		}
		break
	}
	t.Logf("%d sends took %s while one device never read", n, sendTime)
}
