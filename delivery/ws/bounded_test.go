package ws

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// sessionHandler is a Bounded handler whose session is live until ended;
// it counts its own checks, and answers "act" frames it acts on.
type sessionHandler struct {
	key    []byte
	ended  atomic.Bool
	checks atomic.Int64
}

func (h *sessionHandler) HandleFrame(_ context.Context, c *Client, f Frame) {
	if c.SessionLive() {
		c.Reply(f.Ref, "acted", nil)
	}
}
func (h *sessionHandler) Expiry() time.Time  { return time.Now().Add(time.Hour) }
func (h *sessionHandler) SessionKey() []byte { return h.key }
func (h *sessionHandler) Live(context.Context) (bool, error) {
	h.checks.Add(1)
	return !h.ended.Load(), nil
}

func boundHub(t *testing.T, cfg Config, h *sessionHandler) (*Hub, *websocket.Conn) {
	t.Helper()
	hub := NewHub(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = hub.Serve(w, r, Identity{UserID: 7, DeviceID: 1}, h)
	}))
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
		srv.Close()
	})
	waitUntil(t, "the set-up check", func() bool { return h.checks.Load() == 1 })
	waitUntil(t, "the set-up check recorded", func() bool { return hub.SessionChecked(7, 1) })
	return hub, conn
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// feed keeps calling SessionsCovered as a reader would, every 50 ms, from
// a run that began at since (nil: each read a new run), until stopped.
func feed(hub *Hub, since *time.Time) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			now := time.Now()
			s := now
			if since != nil {
				s = *since
			}
			hub.SessionsCovered(s, now)
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// While the feed reaches a socket (a run that began before its own check),
// the socket reads nothing, for frames or on its timer; when the feed stops,
// or starts a new run, it reads its own session again.
func TestFeedReachSparesOwnChecksOnlyWithinItsRun(t *testing.T) {
	runStart := time.Now()
	h := &sessionHandler{key: []byte("k1")}
	hub, conn := boundHub(t, Config{SessionBound: 300 * time.Millisecond, SessionCheckInterval: 200 * time.Millisecond}, h)
	stop := feed(hub, &runStart)
	for i := 0; i < 10; i++ { // 1 s: five check intervals, three bounds
		if err := conn.WriteJSON(Frame{Type: "act", Ref: "a"}); err != nil {
			t.Fatal(err)
		}
		var f Frame
		if err := conn.ReadJSON(&f); err != nil || f.Type != "acted" {
			t.Fatalf("frame %d: %+v %v", i, f, err)
		}
		time.Sleep(100 * time.Millisecond) // pacing the frames: the scenario is a second of them
	}
	if n := h.checks.Load(); n != 1 {
		t.Fatalf("%d own checks while the feed reached the socket, want only the set-up one", n)
	}
	stop()
	waitUntil(t, "an own check once the feed stopped", func() bool { return h.checks.Load() > 1 })

	// A new run (a long gap, a clock step) vouches for no socket until it has
	// checked itself once after the run began.
	stop = feed(hub, nil)
	defer stop()
	n := h.checks.Load()
	waitUntil(t, "an own check in a new run", func() bool { return h.checks.Load() > n })
}

// CloseSession closes the sockets of that session only; a frame after the
// session ended, with the feed stale, is checked first and not acted on.
func TestCloseSessionAndStaleFeed(t *testing.T) {
	h := &sessionHandler{key: []byte("k2")}
	hub, conn := boundHub(t, Config{SessionBound: 200 * time.Millisecond, SessionCheckInterval: time.Hour}, h)
	hub.CloseSession(7, []byte("other"))
	hub.CloseSession(8, []byte("k2"))
	if err := conn.WriteJSON(Frame{Type: "act", Ref: "a"}); err != nil {
		t.Fatal(err)
	}
	var f Frame
	if err := conn.ReadJSON(&f); err != nil || f.Type != "acted" {
		t.Fatalf("another session's close closed this socket: %+v %v", f, err)
	}
	h.ended.Store(true)
	waitUntil(t, "the last check older than the bound", func() bool {
		stale := true
		hub.each(7, func(c *Client) { stale = stale && !c.fresh() })
		return stale
	})
	if err := conn.WriteJSON(Frame{Type: "act", Ref: "b"}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	err := conn.ReadJSON(&f)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseSessionEnded {
		t.Fatalf("frame of an ended session, last check older than the bound: %+v %v; want the socket closed with 1008", f, err)
	}

	h2 := &sessionHandler{key: []byte("k3")}
	hub2, conn2 := boundHub(t, Config{SessionCheckInterval: time.Hour}, h2)
	hub2.CloseSession(7, []byte("k3"))
	_ = conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := conn2.ReadMessage(); !errors.As(err, &ce) || ce.Code != CloseSessionEnded {
		t.Fatalf("CloseSession: %v; want 1008", err)
	}
}
