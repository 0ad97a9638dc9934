package ws

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// Pure networking tests: a real hub behind httptest, real gorilla clients.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type echoHandler struct{ calls atomic.Int64 }

func (h *echoHandler) HandleFrame(_ context.Context, c *Client, f Frame) {
	h.calls.Add(1)
	c.Reply(f.Ref, "echo", json.RawMessage(f.Data))
}

type testHub struct {
	t   *testing.T
	hub *Hub
	srv *httptest.Server
	h   *echoHandler
}

func newTestHub(t *testing.T, cfg Config) *testHub {
	hub := NewHub(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	th := &testHub{t: t, hub: hub, h: &echoHandler{}}
	th.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id Identity
		_, _ = fmtSscan(r.URL.Query().Get("user"), &id.UserID)
		_, _ = fmtSscan(r.URL.Query().Get("device"), &id.DeviceID)
		_ = hub.Serve(w, r, id, th.h)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
		th.srv.Close()
	})
	return th
}

func (th *testHub) dial(user, device int) *websocket.Conn {
	th.t.Helper()
	url := strings.Replace(th.srv.URL, "http", "ws", 1) + "/?user=" + itoa(user) + "&device=" + itoa(device)
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		th.t.Fatal(err)
	}
	th.t.Cleanup(func() { c.Close() })
	// Registration happens just after the upgrade: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for !th.has(int64(user), int64(device)) {
		if time.Now().After(deadline) {
			th.t.Fatal("connection never registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

func (th *testHub) has(user, device int64) bool {
	for _, d := range th.hub.ConnectedDevices(user) {
		if d == device {
			return true
		}
	}
	return false
}

func read(t *testing.T, c *websocket.Conn) Frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f Frame
	if err := c.ReadJSON(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPingMalformedAndHandler(t *testing.T) {
	th := newTestHub(t, Config{})
	c := th.dial(1, 1)
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","ref":"p1"}`))
	if f := read(t, c); f.Type != "pong" || f.Ref != "p1" {
		t.Fatalf("ping answered with %+v", f)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{not json`))
	if f := read(t, c); f.Type != "error" || !strings.Contains(string(f.Data), "invalid_argument") {
		t.Fatalf("malformed frame answered with %+v", f)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"x","ref":"r9","data":{"a":1}}`))
	if f := read(t, c); f.Type != "echo" || f.Ref != "r9" || string(f.Data) != `{"a":1}` {
		t.Fatalf("handler not called right: %+v", f)
	}
}

func TestOversizeFrameCloses1009(t *testing.T) {
	th := newTestHub(t, Config{MaxFrameBytes: 1024})
	c := th.dial(1, 1)
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"x","data":"`+strings.Repeat("a", 2000)+`"}`))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("oversize frame: %v, want close 1009", err)
	}
	if th.h.calls.Load() != 0 {
		t.Fatal("handler saw an oversize frame")
	}
}

func TestDeliverReachesEveryDevice(t *testing.T) {
	th := newTestHub(t, Config{})
	devs := []*websocket.Conn{th.dial(7, 1), th.dial(7, 2), th.dial(7, 3)}
	other := th.dial(8, 1)
	if n := th.hub.Deliver([]int64{7}, []byte(`{"type":"message.new","data":{"id":"1"}}`)); n != 3 {
		t.Fatalf("queued to %d devices, want 3", n)
	}
	for _, d := range devs {
		if f := read(t, d); f.Type != "message.new" {
			t.Fatalf("got %+v", f)
		}
	}
	if n := th.hub.DeliverExcept([]int64{7, 8}, Identity{UserID: 7, DeviceID: 2}, []byte(`{"type":"typing"}`)); n != 3 {
		t.Fatalf("DeliverExcept queued to %d, want 3", n)
	}
	for _, d := range []*websocket.Conn{devs[0], devs[2], other} {
		if f := read(t, d); f.Type != "typing" {
			t.Fatalf("got %+v", f)
		}
	}
	devs[1].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, _, err := devs[1].ReadMessage(); err == nil {
		t.Fatal("the excepted device got the frame")
	}
	if th.hub.Count() != 4 {
		t.Fatalf("count %d", th.hub.Count())
	}
}

func TestCloseDeviceAndShutdown(t *testing.T) {
	th := newTestHub(t, Config{})
	a, b := th.dial(5, 1), th.dial(5, 2)
	th.hub.CloseDevice(5, 1, 1008, "device revoked")
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := a.ReadMessage(); !websocket.IsCloseError(err, 1008) {
		t.Fatalf("revoked device: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := th.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := b.ReadMessage(); !websocket.IsCloseError(err, CloseServiceRestart) {
		t.Fatalf("shutdown: %v, want 1012", err)
	}
	if th.hub.Count() != 0 {
		t.Fatalf("%d connections left after shutdown", th.hub.Count())
	}
}

// A client that never reads is cut off while two readers get every frame in order,
// and Deliver never blocks the publisher.
func TestSlowConsumerDoesNotSlowOthers(t *testing.T) {
	th := newTestHub(t, Config{SendQueue: 32, WriteTimeout: 2 * time.Second})
	slow := th.dial(1, 1)
	r1, r2 := th.dial(2, 1), th.dial(3, 1)
	const n = 3000
	payload := strings.Repeat("x", 4000)
	got := make(chan int, 2)
	var progress [2]atomic.Int64
	for k, r := range []*websocket.Conn{r1, r2} {
		go func() {
			count := 0
			for count < n {
				r.SetReadDeadline(time.Now().Add(10 * time.Second))
				var f Frame
				if r.ReadJSON(&f) != nil || f.Ref != itoa(count) {
					break
				}
				count++
				progress[k].Store(int64(count))
			}
			got <- count
		}()
	}
	var slowest time.Duration
	for i := 0; i < n; i++ {
		frame, _ := json.Marshal(Frame{Type: "message.new", Ref: itoa(i), Data: json.RawMessage(`"` + payload + `"`)})
		start := time.Now()
		th.hub.Deliver([]int64{1, 2, 3}, frame)
		if d := time.Since(start); d > slowest {
			slowest = d
		}
		// Publish at the healthy readers' pace (as a real sender would be rate
		// limited); the slow one never reads and falls behind for good.
		for progress[0].Load() < int64(i-16) || progress[1].Load() < int64(i-16) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	for i := 0; i < 2; i++ {
		if c := <-got; c != n {
			t.Fatalf("a healthy reader got %d of %d frames in order", c, n)
		}
	}
	if th.hub.Stats().Dropped < 1 {
		t.Fatal("the slow consumer was never cut off")
	}
	if slowest > 100*time.Millisecond {
		t.Fatalf("Deliver blocked for %s", slowest)
	}
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if ok := asClose(err, &ce); ok && ce.Code != CloseSlowConsumer && ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("slow consumer closed with %d", ce.Code)
			}
			if strings.Contains(err.Error(), "timeout") {
				t.Fatal("slow consumer's socket was left open")
			}
			break
		}
	}
}
