package api_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/faultproxy"
	"github.com/ringchat/ringchat/repo/cqltest"
)

// TestCassandraOutage puts a real TCP proxy between the API and the real node,
// then makes the node stop answering (hang) and vanish (refuse): requests must
// fail fast with 503 and Retry-After, nothing unacknowledged may show up twice,
// and the server must recover by itself when the node is back.
func TestCassandraOutage(t *testing.T) {
	_, ks := keyspace(t)
	session, proxy := cqltest.ProxiedSession(t, ks, 500*time.Millisecond)
	e := newEnvOn(t, session)
	a, b := e.newUser("oa"), e.newUser("ob")
	conv := a.direct(b)
	a.mustSend(conv, "before the outage")

	for _, mode := range []struct {
		name string
		m    faultproxy.Mode
	}{{"hang", faultproxy.Hang}, {"refuse", faultproxy.Refuse}} {
		t.Run(mode.name, func(t *testing.T) {
			proxy.SetMode(mode.m)
			start := time.Now()
			r := a.send(conv, "outage-"+mode.name, "sent while the node is away")
			expect(t, r, 503, "unavailable")
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
				t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
			}
			if took := time.Since(start); took > 6*time.Second {
				t.Fatalf("failing took %s; want fast failure", took)
			}
			expect(t, a.do("GET", "/v1/me", nil), 503, "unavailable")

			proxy.SetMode(faultproxy.Forward)
			deadline := time.Now().Add(20 * time.Second)
			for a.do("GET", "/v1/me", nil).status != 200 {
				if time.Now().After(deadline) {
					t.Fatal("server did not recover after the node came back")
				}
				time.Sleep(200 * time.Millisecond)
			}
			// The client retries the refused send: it lands exactly once.
			r = a.send(conv, "outage-"+mode.name, "sent while the node is away")
			if r.status != 201 && r.status != 200 {
				t.Fatalf("retry after recovery: %d %s", r.status, r.raw)
			}
			h := b.do("GET", "/v1/conversations/"+conv+"/messages?limit=100", nil)
			expect(t, h, 200)
			n := 0
			for _, m := range h.body["messages"].([]any) {
				if m.(map[string]any)["client_msg_id"] == "outage-"+mode.name {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("history holds %d copies of the retried send", n)
			}
		})
	}
}
