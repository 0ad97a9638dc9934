package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/schema"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The admin listener serves metrics, health, readiness and pprof; the public
// listener serves none of them.
func TestAdminListener(t *testing.T) {
	node := testcluster.Start(t, nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour}))
	a := testcluster.Register(t, node, "oba")
	b := testcluster.Register(t, node, "obb")
	conv := a.Direct(b)
	b.Dial()
	if st, _ := a.Send(conv, "m1", "hello"); st != 201 {
		t.Fatalf("send %d", st)
	}
	admin := "http://" + node.Admin
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/debug/pprof/": "goroutine"} {
		if st, body := get(t, admin+path); st != 200 || !strings.Contains(body, want) {
			t.Errorf("admin %s: %d %.80q", path, st, body)
		}
	}
	_, metrics := get(t, admin+"/metrics")
	for _, want := range []string{
		`ringchat_http_requests_total{method="POST",route="/v1/conversations/:conv_id/messages",status="201"} 1`,
		`ringchat_cql_query_seconds_count{table="messages_by_conversation"}`,
		`ringchat_ws_connections 1`,
		`ringchat_fanout_recipients_count 1`,
		`ringchat_ws_slow_consumer_drops_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, path := range []string{"/metrics", "/debug/pprof/", "/healthz"} {
		if st, _ := get(t, node.URL+path); st == 200 {
			t.Errorf("public listener serves %s", path)
		}
	}
}
