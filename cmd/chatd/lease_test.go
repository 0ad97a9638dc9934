package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/ringchat/ringchat/api"

	"github.com/ringchat/ringchat/delivery"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

// chatd's id source: while the lease holds, requests make ids; once it cannot
// be trusted, a request that needs one is answered 503 unavailable (the
// client retries on another node) instead of writing an id the next holder of
// the node id may make too.
func TestRequestsNeedingAnIDOnceTheLeaseIsGoneGet503(t *testing.T) {
	session, _ := cqltest.NewKeyspace(t, schema.DefaultSettings())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease, err := snowflake.AcquireLease(ctx, session, snowflake.LeaseConfig{TTL: 3 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := snowflake.NewLeasedGenerator(lease)
	if err != nil {
		t.Fatal(err)
	}
	store := repo.NewStore(session, repo.Layout{MessageBucket: time.Hour, InboxBucket: time.Hour}, repo.DefaultRetention())
	hub := ws.NewHub(ws.Config{}, log)
	srv := api.New(api.DefaultConfig(), api.Deps{Store: store, IDs: gen, Sockets: hub, Delivery: delivery.New(delivery.Config{Log: log}, store, hub), Log: log})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	register := func(handle string) (int, string) {
		res, err := http.Post(hs.URL+"/v1/auth/register", "application/json",
			strings.NewReader(`{"handle":"`+handle+`","password":"correct horse"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := register("lease_held"); st != 201 {
		t.Fatalf("register with the lease held: %d %s", st, body)
	}
	if st, body := register("lease_peer"); st != 201 {
		t.Fatalf("register with the lease held: %d %s", st, body)
	}
	sock, convID := dmSocket(t, hs.URL, "lease_held", "lease_peer")
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if st, body := register("lease_gone"); st != 503 || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("register once the lease is gone: %d %s, want 503 unavailable", st, body)
	}
	// A socket's send is refused the same way, and the socket stays usable
	// (an id source that panicked closed it with 1011, and took the process
	// down where no recover stood, as in a receipt flush's timer).
	send := map[string]any{"type": "message.send", "ref": "s1", "data": map[string]any{
		"conversation_id": convID, "client_msg_id": "after-lease", "body": "hello"}}
	if err := sock.WriteJSON(send); err != nil {
		t.Fatal(err)
	}
	got := readFrame(t, sock, "s1")
	if got.Type != "error" || !strings.Contains(string(got.Data), `"unavailable"`) {
		t.Fatalf("message.send once the lease is gone: %s %s, want an unavailable error frame", got.Type, got.Data)
	}
	if err := sock.WriteJSON(map[string]any{"type": "ping", "ref": "p1"}); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, sock, "p1"); got.Type != "pong" {
		t.Fatalf("ping after the refused send: %s %s, want pong", got.Type, got.Data)
	}
}

// dmSocket logs handle in, opens the direct conversation with peer, and
// opens a socket as that device.
func dmSocket(t *testing.T, base, handle, peer string) (*websocket.Conn, string) {
	t.Helper()
	st, login := testcluster.Call(t, "POST", base+"/v1/auth/login", "", map[string]any{"handle": handle, "password": "correct horse"})
	if st != 200 {
		t.Fatalf("login %s: %d %v", handle, st, login)
	}
	token := login["token"].(string)
	st, found := testcluster.Call(t, "GET", base+"/v1/users?handle="+peer, token, nil)
	if st != 200 {
		t.Fatalf("look up %s: %d %v", peer, st, found)
	}
	peerID := found["user"].(map[string]any)["id"].(string)
	st, conv := testcluster.Call(t, "POST", base+"/v1/conversations", token, map[string]any{"kind": "direct", "member_ids": []string{peerID}})
	if st != 201 && st != 200 {
		t.Fatalf("direct conversation: %d %v", st, conv)
	}
	url := "ws" + strings.TrimPrefix(base, "http") + "/v1/ws"
	sock, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	return sock, conv["conversation"].(map[string]any)["id"].(string)
}

// readFrame reads frames until the one answering ref.
func readFrame(t *testing.T, sock *websocket.Conn, ref string) testcluster.Frame {
	t.Helper()
	_ = sock.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var f testcluster.Frame
		if err := sock.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for the answer to %s: %v", ref, err)
		}
		if f.Ref == ref {
			return f
		}
	}
}
