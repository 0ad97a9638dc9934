package ws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// Pure networking tests: a real hub behind httptest, real gorilla clients.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoHandler answers frame type "echo" with an echo of its data, panics on
// "boom", and records every frame it sees.
type echoHandler struct {
	mu     sync.Mutex
	frames []Frame
}

func (h *echoHandler) HandleFrame(_ context.Context, c *Client, f Frame) {
	h.mu.Lock()
	h.frames = append(h.frames, f)
	h.mu.Unlock()
	switch f.Type {
	case "boom":
		panic("boom")
	case "echo":
		c.Reply(f.Ref, "echo", f.Data)
	}
}

func (h *echoHandler) seen() []Frame {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Frame(nil), h.frames...)
}

type testHub struct {
	t       *testing.T
	hub     *Hub
	srv     *httptest.Server
	handler *echoHandler
	errs    chan error // what Serve returned, one per request
}

type hubOption func(*httptest.Server)

// smallSendBuffers caps the server's socket send buffers, so a client that
// does not read fills them (and the send queue) after a few frames.
func smallSendBuffers(s *httptest.Server) { s.Listener = smallBufListener{s.Listener} }

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

func newTestHub(t *testing.T, cfg Config, opts ...hubOption) *testHub {
	t.Helper()
	hub := NewHub(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	th := &testHub{t: t, hub: hub, handler: &echoHandler{}, errs: make(chan error, 100)}
	th.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id Identity
		id.UserID, _ = strconv.ParseInt(r.URL.Query().Get("user"), 10, 64)
		id.DeviceID, _ = strconv.ParseInt(r.URL.Query().Get("device"), 10, 64)
		th.errs <- hub.Serve(w, r, id, th.handler)
	}))
	for _, o := range opts {
		o(th.srv)
	}
	th.srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		th.srv.Close()
	})
	return th
}

func (th *testHub) url(user, device int64) string {
	return "ws" + strings.TrimPrefix(th.srv.URL, "http") + "/?user=" + strconv.FormatInt(user, 10) +
		"&device=" + strconv.FormatInt(device, 10)
}

// dial connects device of user and waits until the hub has registered it.
func (th *testHub) dial(user, device int64) *websocket.Conn {
	th.t.Helper()
	return th.dialWith(websocket.DefaultDialer, user, device)
}

// dialSmall is dial with a small receive buffer: a client that does not read
// stops the server's writes after a few frames.
func (th *testHub) dialSmall(user, device int64) *websocket.Conn {
	th.t.Helper()
	d := *websocket.DefaultDialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(8 << 10)
		}
		return c, err
	}
	return th.dialWith(&d, user, device)
}

func (th *testHub) dialWith(d *websocket.Dialer, user, device int64) *websocket.Conn {
	th.t.Helper()
	c, _, err := d.Dial(th.url(user, device), nil)
	if err != nil {
		th.t.Fatal(err)
	}
	th.t.Cleanup(func() { c.Close() })
	if err := <-th.errs; err != nil {
		th.t.Fatalf("Serve: %v", err)
	}
	// Serve returns once the socket is registered and running.
	if !th.has(user, device) {
		th.t.Fatal("Serve returned before registering the socket")
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

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

func send(t *testing.T, c *websocket.Conn, frame string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c *websocket.Conn) Frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f Frame
	if err := c.ReadJSON(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

// closeCode reads until the connection ends and returns its close code
// (1006 when it ended without a close frame).
func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	return closeCodeWithin(t, c, 5*time.Second)
}

func closeCodeWithin(t *testing.T, c *websocket.Conn, d time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server never closed the socket")
		}
		return websocket.CloseAbnormalClosure
	}
}

func errorCode(t *testing.T, f Frame) string {
	t.Helper()
	var d struct{ Code, Message string }
	if f.Type != "error" || json.Unmarshal(f.Data, &d) != nil || d.Message == "" {
		t.Fatalf("want an error frame with code and message, got %s %s", f.Type, f.Data)
	}
	return d.Code
}

func TestPingPong(t *testing.T) {
	th := newTestHub(t, Config{})
	c := th.dial(1, 1)
	send(t, c, `{"type":"ping","ref":"p1"}`)
	if f := read(t, c); f.Type != "pong" || f.Ref != "p1" {
		t.Fatalf("ping answered with %+v", f)
	}
	send(t, c, `{"type":"ping"}`)
	if f := read(t, c); f.Type != "pong" || f.Ref != "" {
		t.Fatalf("ping without ref answered with %+v", f)
	}
	if n := len(th.handler.seen()); n != 0 {
		t.Fatalf("the handler saw %d ping frames", n)
	}
}

func TestMalformedFrameKeepsSocketOpen(t *testing.T) {
	th := newTestHub(t, Config{})
	c := th.dial(1, 1)
	for _, bad := range []string{`{not json`, `[1,2]`, `{"ref":"no type"}`, `"just a string"`} {
		send(t, c, bad)
		if code := errorCode(t, read(t, c)); code != "invalid_argument" {
			t.Fatalf("%s: error code %q", bad, code)
		}
	}
	if err := c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if code := errorCode(t, read(t, c)); code != "invalid_argument" {
		t.Fatalf("binary frame: error code %q", code)
	}
	send(t, c, `{"type":"echo","ref":"r9","data":{"a":1}}`)
	if f := read(t, c); f.Type != "echo" || f.Ref != "r9" || string(f.Data) != `{"a":1}` {
		t.Fatalf("after malformed frames the socket answered %+v", f)
	}
	if n := len(th.handler.seen()); n != 1 {
		t.Fatalf("the handler saw %d frames, want 1", n)
	}
}

func TestHandlerGetsFramesInOrder(t *testing.T) {
	th := newTestHub(t, Config{})
	c := th.dial(1, 1)
	const n = 200
	for i := range n {
		send(t, c, `{"type":"echo","ref":"`+strconv.Itoa(i)+`","data":`+strconv.Itoa(i)+`}`)
	}
	for i := range n {
		if f := read(t, c); f.Type != "echo" || f.Ref != strconv.Itoa(i) || string(f.Data) != strconv.Itoa(i) {
			t.Fatalf("reply %d: %+v", i, f)
		}
	}
}

func TestOversizeFrameCloses1009(t *testing.T) {
	th := newTestHub(t, Config{MaxFrameBytes: 1024})
	c := th.dial(1, 1)
	send(t, c, `{"type":"echo","data":"`+strings.Repeat("a", 900)+`"}`) // fits
	if f := read(t, c); f.Type != "echo" {
		t.Fatalf("got %+v", f)
	}
	send(t, c, `{"type":"echo","data":"`+strings.Repeat("a", 2000)+`"}`)
	if code := closeCode(t, c); code != websocket.CloseMessageTooBig {
		t.Fatalf("oversize frame: closed with %d, want 1009", code)
	}
	if n := len(th.handler.seen()); n != 1 {
		t.Fatalf("the handler saw %d frames, want only the one that fits", n)
	}
	waitFor(t, 5*time.Second, "the socket to unregister", func() bool { return th.hub.Count() == 0 })
}

func TestHandlerPanicCloses1011(t *testing.T) {
	th := newTestHub(t, Config{})
	a, b := th.dial(1, 1), th.dial(2, 1)
	send(t, a, `{"type":"boom"}`)
	if code := closeCode(t, a); code != websocket.CloseInternalServerErr {
		t.Fatalf("handler panic: closed with %d, want 1011", code)
	}
	send(t, b, `{"type":"echo","ref":"still"}`)
	if f := read(t, b); f.Ref != "still" {
		t.Fatalf("another socket after the panic: %+v", f)
	}
}

func TestDeliverReachesEveryDevice(t *testing.T) {
	th := newTestHub(t, Config{})
	devs := []*websocket.Conn{th.dial(7, 1), th.dial(7, 2), th.dial(7, 3)}
	other := th.dial(8, 1)
	if n := th.hub.Deliver([]int64{7}, []byte(`{"type":"message.new","data":{"id":"1"}}`)); n != 3 {
		t.Fatalf("Deliver queued to %d devices, want 3", n)
	}
	for i, d := range devs {
		if f := read(t, d); f.Type != "message.new" || string(f.Data) != `{"id":"1"}` {
			t.Fatalf("device %d got %+v", i+1, f)
		}
	}
	if n := th.hub.Deliver([]int64{7, 8, 9}, []byte(`{"type":"presence"}`)); n != 4 {
		t.Fatalf("Deliver to users 7, 8 and the absent 9 queued to %d sockets, want 4", n)
	}
	for _, d := range append(devs, other) {
		if f := read(t, d); f.Type != "presence" {
			t.Fatalf("got %+v", f)
		}
	}
	if got := th.hub.ConnectedDevices(7); len(got) != 3 {
		t.Fatalf("ConnectedDevices(7) = %v", got)
	}
	if th.hub.Count() != 4 || th.hub.Stats().Connections != 4 {
		t.Fatalf("Count %d, Stats %+v, want 4", th.hub.Count(), th.hub.Stats())
	}
	if users := th.hub.ConnectedUsers(); len(users) != 2 {
		t.Fatalf("ConnectedUsers %v", users)
	}
}

func TestClientReplies(t *testing.T) {
	var got *Client
	th := newTestHub(t, Config{})
	c := th.dial(3, 4)
	th.hub.each(3, func(cl *Client) { got = cl })
	if got.Identity() != (Identity{UserID: 3, DeviceID: 4}) {
		t.Fatalf("Identity %+v", got.Identity())
	}
	got.ReplyError("r1", "not_found", "no such conversation")
	f := read(t, c)
	if f.Ref != "r1" || errorCode(t, f) != "not_found" {
		t.Fatalf("ReplyError sent %+v", f)
	}
	got.Reply("r2", "ack", map[string]string{"k": "v"})
	if f := read(t, c); f.Type != "ack" || f.Ref != "r2" || string(f.Data) != `{"k":"v"}` {
		t.Fatalf("Reply sent %+v", f)
	}
	got.Send(Frame{Type: "x", Data: json.RawMessage(`[1]`)})
	got.SendRaw([]byte(`{"type":"y"}`))
	if f := read(t, c); f.Type != "x" || string(f.Data) != `[1]` {
		t.Fatalf("Send sent %+v", f)
	}
	if f := read(t, c); f.Type != "y" {
		t.Fatalf("SendRaw sent %+v", f)
	}
	if got.Send(Frame{Type: "bad", Data: json.RawMessage(`{`)}) {
		t.Fatal("Send accepted a frame it cannot encode")
	}
}

func TestCloseDevice(t *testing.T) {
	th := newTestHub(t, Config{})
	a, b := th.dial(5, 1), th.dial(5, 2)
	var revoked *Client
	th.hub.each(5, func(c *Client) {
		if c.id.DeviceID == 1 {
			revoked = c
		}
	})
	th.hub.CloseDevice(5, 1, websocket.ClosePolicyViolation, "device revoked")
	if code := closeCode(t, a); code != websocket.ClosePolicyViolation {
		t.Fatalf("revoked device closed with %d, want 1008", code)
	}
	select {
	case <-revoked.Context().Done():
	default:
		t.Fatal("the revoked socket's context is not cancelled")
	}
	if revoked.SendRaw([]byte(`{"type":"late"}`)) {
		t.Fatal("a closed socket accepted a frame")
	}
	waitFor(t, 5*time.Second, "the revoked socket to unregister", func() bool { return !th.has(5, 1) })
	if n := th.hub.Deliver([]int64{5}, []byte(`{"type":"still"}`)); n != 1 {
		t.Fatalf("Deliver after revoking one of two devices queued to %d", n)
	}
	if f := read(t, b); f.Type != "still" {
		t.Fatalf("the other device got %+v", f)
	}
}

func TestShutdown(t *testing.T) {
	var mu sync.Mutex
	var events []string
	hook := func(what string) func(Identity) {
		return func(id Identity) {
			mu.Lock()
			events = append(events, what+strconv.FormatInt(id.UserID, 10))
			mu.Unlock()
		}
	}
	th := newTestHub(t, Config{OnConnect: hook("+"), OnDisconnect: hook("-")})
	a, b := th.dial(1, 1), th.dial(2, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := th.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Shutdown has waited for every socket and its OnDisconnect.
	if th.hub.Count() != 0 {
		t.Fatalf("%d connections left after Shutdown", th.hub.Count())
	}
	mu.Lock()
	// Each socket's OnConnect runs on its own reader, so +1 and +2 come in
	// either order, both before any OnDisconnect.
	if got := strings.Join(events, " "); len(events) != 4 || strings.Count(got[:5], "+") != 2 || strings.Count(got[6:], "-") != 2 {
		t.Fatalf("hooks ran %q, want +1 and +2, then -1 and -2", got)
	}
	mu.Unlock()
	for _, c := range []*websocket.Conn{a, b} {
		if code := closeCode(t, c); code != CloseServiceRestart {
			t.Fatalf("shutdown closed a socket with %d, want 1012", code)
		}
	}
	// A node that is shutting down refuses new sockets.
	_, resp, err := websocket.DefaultDialer.Dial(th.url(3, 1), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("dial during shutdown: %v, %+v", err, resp)
	}
	if err := <-th.errs; !errors.Is(err, ErrHubClosed) {
		t.Fatalf("Serve during shutdown returned %v", err)
	}
}

func TestKeepalive(t *testing.T) {
	// A pong timeout of a second, not less: on a loaded two-core machine the
	// live socket's reader can wait hundreds of milliseconds for a core.
	th := newTestHub(t, Config{PingInterval: 50 * time.Millisecond, PongTimeout: time.Second})
	alive := th.dial(1, 1)
	silent := th.dial(2, 1) // never reads, so never answers a ping
	pings := make(chan struct{}, 100)
	alive.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				return
			}
		}
	}()
	waitFor(t, 5*time.Second, "the silent socket to be dropped", func() bool { return !th.has(2, 1) })
	// 30 more pings at 50 ms take 1.5 s, well past PongTimeout, counted from
	// the alive socket's own pings rather than slept for.
	since := len(pings)
	waitFor(t, 10*time.Second, "30 more pings at the alive socket", func() bool { return len(pings) >= since+30 })
	if !th.has(1, 1) {
		t.Fatal("a socket that answers pings was dropped")
	}
	if len(pings) < 5 {
		t.Fatalf("%d pings, want at least 5", len(pings))
	}
	_ = silent
	alive.Close()
	<-readDone
}

// A client that never reads is cut off while two readers get every frame in
// order, and Deliver never waits for the stuck socket.
func TestSlowConsumerDoesNotSlowOthers(t *testing.T) {
	th := newTestHub(t, Config{SendQueue: 32, WriteTimeout: 2 * time.Second}, smallSendBuffers)
	slow := th.dialSmall(1, 1)
	r1, r2 := th.dial(2, 1), th.dial(3, 1)
	const n = 2000
	payload := strings.Repeat("x", 4000)
	got := make(chan int, 2)
	var progress [2]atomic.Int64
	for k, r := range []*websocket.Conn{r1, r2} {
		go func() {
			count := 0
			for count < n {
				_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
				var f Frame
				if r.ReadJSON(&f) != nil || f.Ref != strconv.Itoa(count) {
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
		frame, _ := json.Marshal(Frame{Type: "message.new", Ref: strconv.Itoa(i), Data: json.RawMessage(`"` + payload + `"`)})
		start := time.Now()
		th.hub.Deliver([]int64{1, 2, 3}, frame)
		slowest = max(slowest, time.Since(start))
		// Publish at the healthy readers' pace, as a rate-limited sender
		// would; the slow one never reads and falls behind for good.
		for progress[0].Load() < int64(i-16) || progress[1].Load() < int64(i-16) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	for range 2 {
		if c := <-got; c != n {
			t.Fatalf("a healthy reader got %d of %d frames in order", c, n)
		}
	}
	if th.hub.Stats().Dropped < 1 {
		t.Fatal("the slow consumer was never cut off")
	}
	// Blocking on the stuck socket would take WriteTimeout (2s).
	if slowest > time.Second {
		t.Fatalf("Deliver waited %s for a socket", slowest)
	}
	// Cutting it off may take a stuck write, sync.required and the close
	// frame (WriteTimeout each) and closeGrace.
	if code := closeCodeWithin(t, slow, 15*time.Second); code != CloseSlowConsumer && code != websocket.CloseAbnormalClosure {
		t.Fatalf("slow consumer closed with %d, want %d or 1006", code, CloseSlowConsumer)
	}
	waitFor(t, 5*time.Second, "the slow socket to be unregistered", func() bool { return !th.has(1, 1) })
}
