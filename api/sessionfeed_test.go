package api_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

// The feed of ended sessions closes a socket whose close order was lost,
// within the bound, with the socket's own re-checks as good as off (10 min).
func TestSessionFeedClosesSocketWithoutItsOwnChecks(t *testing.T) {
	e := newEnv(t, func(_ *api.Config, _ *repo.Retention, w *ws.Config) {
		w.SessionCheckInterval, w.SessionBound = 10*time.Minute, time.Second
	})
	a := e.newUser("sf")
	sock := a.dialSettled()
	began := time.Now()
	a.endWithoutCloseOrder()
	if c := closedWith(sock.conn, 10*time.Second); c != 1008 {
		t.Fatalf("socket of an ended session, bound 1 s, own checks every 10 min: ended with %d within 10 s, want 1008", c)
	}
	// One read every bound/2, the read itself, and a busy test machine.
	if took := time.Since(began); took > 4*time.Second {
		t.Fatalf("closed %s after the session ended, bound 1 s", took)
	}
}

// A logout storm is read page by page (here 50 rows, so that a few thousand
// rows make a storm), closing sockets as it goes: more ends than any bound
// on a read (once 200,000: the whole read failed and closed nothing) still
// close the socket whose end is on the last page.
func TestSessionFeedReadsStormPageByPage(t *testing.T) {
	session, _ := keyspace(t)
	e := newEnvOn(t, session, func(_ *api.Config, _ *repo.Retention, w *ws.Config) {
		w.SessionCheckInterval, w.SessionBound = 10*time.Minute, 10*time.Minute // neither closes it meanwhile
	})
	a := e.newUser("storm")
	sock := a.dialSettled()
	began := time.Now()
	const storm, page = 3000, 50
	g, gctx := errgroup.WithContext(t.Context())
	g.SetLimit(32)
	for i := range storm {
		g.Go(func() error {
			stamp := time.Now()
			ms := stamp.UnixMilli()
			return session.Query(`INSERT INTO session_ends (bucket, ended_at, token_hash, user_id) VALUES (?, ?, ?, ?) USING TTL 600`,
				ms-ms%repo.SessionEndBucket.Milliseconds(), stamp, []byte(fmt.Sprintf("storm-%d-%d", began.UnixNano(), i)), int64(i+1)).WithContext(gctx).Exec()
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	a.endWithoutCloseOrder() // stamped after the storm: on the read's last page
	n, err := delivery.ReadSessionEnds(t.Context(), e.store, e.hub, slog.New(slog.DiscardHandler), began, page)
	if err != nil {
		t.Fatalf("a read of %d ends, %d a page: %v", storm+1, page, err)
	}
	if n < storm+1 {
		t.Fatalf("the read listed %d ends, want at least the storm's %d and the socket's", n, storm+1)
	}
	if c := closedWith(sock.conn, 10*time.Second); c != 1008 {
		t.Fatalf("socket whose end followed a storm of %d: ended with %d, want 1008", storm, c)
	}
}

// While the feed cannot be read (its table is gone), sockets fall back to
// reading their own sessions: one with a short re-check interval is closed
// by it, and one with a long interval refuses its next frame.
func TestSocketsCheckThemselvesWhileSessionFeedUnreadable(t *testing.T) {
	session, ks := keyspace(t)
	short := newEnvOn(t, session, func(_ *api.Config, _ *repo.Retention, w *ws.Config) {
		w.SessionCheckInterval, w.SessionBound = time.Second, time.Second
	})
	long := newEnvOn(t, session, func(_ *api.Config, _ *repo.Retention, w *ws.Config) {
		w.SessionCheckInterval, w.SessionBound = 10*time.Minute, time.Second
	})
	a, b := short.newUser("fa"), long.newUser("fb")
	sa, sb := a.dial(), b.dial()
	for _, s := range []*wsConn{sa, sb} {
		s.write("ping", "p", nil)
		s.next("pong")
	}
	a.settled()
	b.settled()
	// The package's keyspace is shared: the table comes back after the test
	// (its tests run one at a time). Schema changes get the admin timeout.
	admin, err := repo.Connect(cqltest.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	create := strings.Replace(sessionEndsTable(t), "session_ends", ks+".session_ends", 1)
	t.Cleanup(func() {
		defer admin.Close()
		if err := admin.Query(create).Exec(); err != nil {
			t.Errorf("session_ends not re-created: %v", err)
		}
	})
	if err := admin.Query(`DROP TABLE ` + ks + `.session_ends`).Exec(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*ws.Hub{short.hub, long.hub} { // until neither feed vouches for its sockets
		deadline := time.Now().Add(20 * time.Second)
		for h.SessionsCoveredAge() < 2*time.Second {
			if time.Now().After(deadline) {
				t.Fatalf("the feed still reads %s after its table was dropped", h.SessionsCoveredAge())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The sessions end with no close order and, the table gone, no feed row.
	for _, c := range []*client{a, b} {
		h := sha256.Sum256([]byte(c.token))
		if err := session.Query(`DELETE FROM sessions WHERE token_hash = ?`, h[:]).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	if c := closedWith(sa.conn, 10*time.Second); c != 1008 {
		t.Fatalf("feed unreadable, own checks every 1 s: the socket ended with %d within 10 s, want 1008", c)
	}
	raw, _ := json.Marshal(map[string]any{"conversation_id": "1", "client_msg_id": "x"})
	if err := sb.conn.WriteJSON(frame{Type: "message.send", Ref: "s1", Data: raw}); err != nil {
		t.Fatal(err)
	}
	_ = sb.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f frame
	err = sb.conn.ReadJSON(&f)
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == 1008:
	case err == nil && f.Type == "error" && f.Ref == "s1":
		var d struct{ Code string }
		if _ = json.Unmarshal(f.Data, &d); d.Code != "unauthenticated" {
			t.Fatalf("frame of an ended session refused with %s, want unauthenticated", f.Data)
		}
	default:
		t.Fatalf("feed unreadable: a frame of a session ended with no close order got %+v, %v; want it refused", f, err)
	}
}

// sessionEndsTable is the schema's CREATE TABLE of session_ends.
func sessionEndsTable(t *testing.T) string {
	t.Helper()
	vs, err := schema.Versions()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if strings.HasSuffix(v.Name, "_session_ends") {
			return v.Statements[0]
		}
	}
	t.Fatal("no session_ends schema file")
	return ""
}

// An end the feed never delivers (here: no feed row at all, as for one
// replicated to this DC after the readers' overlap) still closes the socket,
// by its own slow backstop read, while the feed keeps vouching for it.
func TestSessionBackstopClosesSocketTheFeedMissed(t *testing.T) {
	session, _ := keyspace(t)
	e := newEnvOn(t, session, func(_ *api.Config, _ *repo.Retention, w *ws.Config) {
		w.SessionCheckInterval, w.SessionBound, w.SessionBackstop = 300*time.Millisecond, time.Second, 2*time.Second
	})
	a := e.newUser("bs")
	sock := a.dialSettled()
	h := sha256.Sum256([]byte(a.token))
	if err := session.Query(`DELETE FROM sessions WHERE token_hash = ?`, h[:]).Exec(); err != nil {
		t.Fatal(err)
	}
	if c := closedWith(sock.conn, 15*time.Second); c != 1008 {
		t.Fatalf("session gone without a feed row, backstop 2 s: the socket ended with %d within 15 s, want 1008", c)
	}
	if age := e.hub.SessionsCoveredAge(); age < 0 || age > 2*time.Second {
		t.Fatalf("the feed was not vouching (last read %s ago): the test proves nothing", age)
	}
}
