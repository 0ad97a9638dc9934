package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/presence"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

// Every test here runs a real api.Server (httptest) against the real Cassandra
// node, on one keyspace per package with small buckets so paging crosses them.

var testLayout = schema.Settings{MessageBucket: 300 * time.Millisecond, InboxBucket: 500 * time.Millisecond}

var (
	sharedOnce    sync.Once
	sharedSession *gocql.Session
	sharedKS      string
	sharedErr     error
	nodeIDs       = make(chan int64, snowflake.MaxNodeID)
)

func TestMain(m *testing.M) {
	for i := int64(1); i < snowflake.MaxNodeID; i++ {
		nodeIDs <- i // each test server gets its own generator node id
	}
	code := m.Run()
	if sharedSession != nil {
		sharedSession.Close()
		cqltest.DropKeyspace(sharedKS)
	}
	os.Exit(code)
}

func keyspace(t testing.TB) (*gocql.Session, string) {
	t.Helper()
	sharedOnce.Do(func() { sharedSession, sharedKS, sharedErr = cqltest.CreateKeyspace("api", testLayout) })
	if sharedErr != nil {
		t.Fatalf("test keyspace: %v", sharedErr)
	}
	return sharedSession, sharedKS
}

type env struct {
	t     testing.TB
	srv   *httptest.Server
	store *repo.Store
	hub   *ws.Hub
	api   *api.Server
}

type envOption func(*api.Config, *repo.Retention, *ws.Config)

// newEnv starts an API server on the shared keyspace.
// testAdminToken opens the admin API of every test env (admin.go).
const testAdminToken = "test-admin-token-0123456789abcdef"

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	session, _ := keyspace(t)
	return newEnvOn(t, session, opts...)
}

func newEnvOn(t testing.TB, session *gocql.Session, opts ...envOption) *env {
	t.Helper()
	return startEnv(t, session, true, opts...)
}

// newEnvWithoutFeed is newEnv with no feed of ended sessions on the node:
// a socket learns of its session's end only by checking it itself.
func newEnvWithoutFeed(t testing.TB, opts ...envOption) *env {
	t.Helper()
	session, _ := keyspace(t)
	return startEnv(t, session, false, opts...)
}

func startEnv(t testing.TB, session *gocql.Session, feed bool, opts ...envOption) *env {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Argon2 = chat.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1} // cheap hashes: tests register many users
	// A short lag so sync tests need not wait 5 s; the invariant is the same.
	cfg.SendDeadline, cfg.SyncLag = time.Second, 1500*time.Millisecond
	cfg.SendRate = 0 // tests send in bursts; TestSendRateLimit turns it on
	// Sends write outbox rows as a deployment with push does; no worker runs here.
	cfg.Notify = chat.NotifyConfig{Kinds: []string{"webhook"}, InsecureTargets: true}
	// Tests log in from one address, many at once; the auth tests turn the bounds on.
	cfg.Auth.AddressRate, cfg.Auth.HandleRate, cfg.Auth.HashConcurrency = 0, 0, 64
	cfg.AdminToken = testAdminToken
	ret := repo.DefaultRetention()
	wcfg := ws.Config{}
	for _, o := range opts {
		o(&cfg, &ret, &wcfg)
	}
	nodeID := <-nodeIDs
	gen, err := snowflake.NewGenerator(nodeID)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	store := repo.NewStore(session, repo.Layout{MessageBucket: testLayout.MessageBucket, InboxBucket: testLayout.InboxBucket}, ret)
	// The real cluster layer, as one node without forwarding (no secret).
	pres := presence.New(store, log)
	var cl *delivery.Node
	wcfg.OnConnect = func(id ws.Identity) { cl.Connected(id) }
	wcfg.OnDisconnect = func(id ws.Identity) { cl.Disconnected(id) }
	hub := ws.NewHub(wcfg, log)
	cl = delivery.New(delivery.Config{NodeID: int(nodeID), Instance: fmt.Sprintf("test-%d", nodeID), Log: log,
		OnPresence: pres.Changed, NodeTTL: 30 * time.Second}, store, hub)
	if err := cl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pres.SetOutputs(cl, cl)
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feedDone := make(chan struct{})
	if feed {
		go func() { defer close(feedDone); delivery.WatchSessionEnds(feedCtx, store, hub, log) }()
	} else {
		close(feedDone)
	}
	key, err := store.SendIDKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := api.New(cfg, api.Deps{Store: store, IDs: gen, Sockets: hub, Delivery: cl, Objects: testObjects(t), Presence: pres, Log: log, SendIDKey: key})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
		stopFeed()
		<-feedDone
		srv.Close()
		cl.Stop(ctx)
	})
	return &env{t: t, srv: srv, store: store, hub: hub, api: s}
}

// client is one logged-in device.
type client struct {
	e        *env
	t        testing.TB
	token    string
	userID   string
	deviceID string
	handle   string
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	raw, _ := io.ReadAll(r.Body)
	out := resp{status: r.StatusCode, header: r.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

func (c *client) do(method, path string, body any) resp {
	c.t.Helper()
	return c.e.do(method, path, c.token, body)
}

// expect fails unless the response has the status (and, for errors, the code).
func expect(t testing.TB, r resp, status int, code ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if len(code) > 0 {
		errObj, _ := r.body["error"].(map[string]any)
		if errObj == nil || errObj["code"] != code[0] || errObj["message"] == "" {
			t.Fatalf("want error code %q with a message, got %s", code[0], r.raw)
		}
	}
}

func uniqueHandle(prefix string) string {
	return fmt.Sprintf("%s_%08x", prefix, rand.Uint32())
}

// newUser registers a fresh user and logs one device in.
func (e *env) newUser(prefix string) *client {
	e.t.Helper()
	h := uniqueHandle(prefix)
	r := e.do("POST", "/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse", "display_name": h})
	expect(e.t, r, 201)
	return e.login(h)
}

// login adds a device for an existing handle.
func (e *env) login(handle string) *client {
	e.t.Helper()
	r := e.do("POST", "/v1/auth/login", "", map[string]any{"handle": handle, "password": "correct horse", "device_name": "test"})
	expect(e.t, r, 200)
	user := r.body["user"].(map[string]any)
	return &client{e: e, t: e.t, token: r.body["token"].(string), userID: user["id"].(string),
		deviceID: r.body["device_id"].(string), handle: handle}
}

// direct opens (or finds) the direct conversation of c and other.
func (c *client) direct(other *client) string {
	c.t.Helper()
	r := c.do("POST", "/v1/conversations", map[string]any{"kind": "direct", "member_ids": []string{other.userID}})
	if r.status != 200 && r.status != 201 {
		c.t.Fatalf("create direct: %d %s", r.status, r.raw)
	}
	return r.body["conversation"].(map[string]any)["id"].(string)
}

func (c *client) send(convID, clientMsgID, body string) resp {
	c.t.Helper()
	return c.do("POST", "/v1/conversations/"+convID+"/messages", map[string]any{"client_msg_id": clientMsgID, "body": body})
}

func (c *client) mustSend(convID, body string) map[string]any {
	c.t.Helper()
	r := c.send(convID, fmt.Sprintf("c-%x", rand.Uint64()), body)
	expect(c.t, r, 201)
	return r.body["message"].(map[string]any)
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
