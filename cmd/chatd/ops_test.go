package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/schema"
)

// --help is a request for usage, not a mistake: usage on stderr, exit 0.
func TestHelpExitsZero(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		cmd := exec.Command(testcluster.Binary(t), arg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("chatd %s: %v\n%s", arg, err, out)
		}
		if !strings.Contains(string(out), "-listen") || strings.Contains(string(out), "flag: help requested") {
			t.Errorf("chatd %s printed:\n%s", arg, out)
		}
	}
	if out, err := exec.Command(testcluster.Binary(t), "--no-such-flag").CombinedOutput(); err == nil {
		t.Errorf("an unknown flag exited 0:\n%s", out)
	}
}

// errorNode is a node whose every send overruns its deadline (503), so each
// error class a client can cause is one request away.
func errorNode(t *testing.T, extra map[string]string) *testcluster.Node {
	env := nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	env["RINGCHAT_SEND_DEADLINE"], env["RINGCHAT_DEBUG_SEND_DELAY"] = "1s", "1500ms"
	for k, v := range extra {
		env[k] = v
	}
	return testcluster.Start(t, env)
}

// causeErrors makes one 404, 400, 401 and 503 answer from application code
// (not Echo's router), and one 201.
func causeErrors(t *testing.T, node *testcluster.Node) {
	a := testcluster.Register(t, node, "mea")
	b := testcluster.Register(t, node, "meb")
	conv := a.Direct(b)
	want := []struct {
		status            int
		method, path, tok string
	}{
		{404, "GET", "/v1/users/123456789", a.Token},
		{400, "GET", "/v1/conversations?limit=abc", a.Token},
		{401, "GET", "/v1/me", "not-a-token"},
	}
	for _, w := range want {
		if st, body := testcluster.Call(t, w.method, node.URL+w.path, w.tok, nil); st != w.status {
			t.Fatalf("%s %s: %d %v, want %d", w.method, w.path, st, body, w.status)
		}
	}
	if st, body := a.Send(conv, "m503", "late"); st != 503 {
		t.Fatalf("overrunning send: %d %v", st, body)
	}
}

func scrape(t *testing.T, node *testcluster.Node) string {
	t.Helper()
	st, body := get(t, "http://"+node.Admin+"/metrics")
	if st != 200 {
		t.Fatalf("scrape: %d", st)
	}
	return body
}

// Application errors are counted under their real status, so error-rate
// alerts can fire.
func TestMetricsCountErrorStatuses(t *testing.T) {
	node := errorNode(t, nil)
	causeErrors(t, node)
	metrics := scrape(t, node)
	for _, want := range []string{
		`ringchat_http_requests_total{method="GET",route="/v1/users/:user_id",status="404"} 1`,
		`ringchat_http_requests_total{method="GET",route="/v1/conversations",status="400"} 1`,
		`ringchat_http_requests_total{method="GET",route="/v1/me",status="401"} 1`,
		`ringchat_http_requests_total{method="POST",route="/v1/conversations/:conv_id/messages",status="503"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `route="/v1/users/:user_id",status="200"`) {
		t.Error("a 404 was counted as 200")
	}
	// Go accepts any token as a method: made-up ones, sent without logging in,
	// share one "other" series instead of adding a series each.
	for i := range 50 {
		req, err := http.NewRequest(fmt.Sprintf("BOGUS%d", i), node.URL+"/v1/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	metrics = scrape(t, node)
	if strings.Contains(metrics, `method="BOGUS`) {
		t.Error("a made-up method got a series of its own")
	}
	if !regexp.MustCompile(`ringchat_http_requests_total\{method="other",route="/v1/me",status="\d+"\} 50`).MatchString(metrics) {
		t.Error(`50 made-up methods on /v1/me are not counted as method="other"`)
	}
}

var metricName = regexp.MustCompile(`^(ringchat_[a-z_]+)`)

// README's metric list is exactly what chatd exports: every exported
// ringchat_* family is documented, and every documented one is exported (a
// labelled one may lack samples yet: a vector shows once it has a first one).
func TestReadmeMetricsAreExported(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Metrics\n")
	if !ok {
		t.Fatal("README has no ## Metrics section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{} // name -> labelled
	for _, m := range regexp.MustCompile("(?m)^\\| `(ringchat_[a-z_]+)` \\| [a-z]+ \\| ([^|]*)\\|").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = strings.TrimSpace(m[2]) != ""
	}
	if len(documented) < 10 {
		t.Fatalf("README's metric table did not parse: %v", documented)
	}
	node := errorNode(t, nil)
	causeErrors(t, node)
	b := testcluster.Register(t, node, "mec")
	b.Dial()
	exported := map[string]bool{}
	for _, line := range strings.Split(scrape(t, node), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if m := metricName.FindString(name); m != "" {
				exported[m] = true
				if _, ok := documented[m]; !ok {
					t.Errorf("chatd exports %s; README does not list it", m)
				}
			}
		}
	}
	for name, labelled := range documented {
		if !exported[name] && !labelled {
			t.Errorf("README lists %s; chatd does not export it", name)
		}
	}
}

// Every request is logged once with its route and status: 5xx at warn,
// others at debug; never a token, a ticket or a password.
func TestAccessLog(t *testing.T) {
	node := errorNode(t, map[string]string{"RINGCHAT_LOG_LEVEL": "debug", "RINGCHAT_LOG_FORMAT": "json"})
	causeErrors(t, node)
	testcluster.Call(t, "GET", node.URL+"/v1/ws?ticket=secret-ticket-value", "", nil)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(node.Logs(), "secret-ticket") && !strings.Contains(node.Logs(), `"route":"/v1/ws"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	logs := node.Logs()
	for _, want := range []string{
		`"level":"DEBUG","msg":"request","method":"GET","route":"/v1/users/:user_id","path":"/v1/users/123456789","status":404`,
		`"level":"DEBUG","msg":"request","method":"GET","route":"/v1/me","path":"/v1/me","status":401`,
		`"level":"WARN","msg":"request","method":"POST","route":"/v1/conversations/:conv_id/messages"`,
		`"route":"/v1/auth/login","path":"/v1/auth/login","status":200`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s", want)
		}
	}
	for _, secret := range []string{"not-a-token", "secret-ticket", "correct horse", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log shows %q", secret)
		}
	}
	if t.Failed() {
		t.Log(logs)
	}
}

// A client that trickles its headers is cut off at the header timeout while
// other clients are served; an open WebSocket outlives the read timeout.
func TestSlowHeadersAreCut(t *testing.T) {
	env := nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	env["RINGCHAT_HTTP_READ_HEADER_TIMEOUT"], env["RINGCHAT_HTTP_READ_TIMEOUT"] = "1s", "2s"
	node := testcluster.Start(t, env)
	a := testcluster.Register(t, node, "slw")
	sock := a.Dial()
	addr := strings.TrimPrefix(node.URL, "http://")
	start := time.Now()
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	cut := make(chan time.Duration, 1)
	go func() {
		for _, c := range []byte("GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)) {
			if _, err := slow.Write([]byte{c}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cut <- time.Since(start)
	}()
	go func() { // the server closing the socket shows as EOF on read
		_, _ = bufio.NewReader(slow).ReadString('\n')
		cut <- time.Since(start)
	}()
	for time.Since(start) < 1500*time.Millisecond {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", node.URL+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+a.Token)
		res, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("a normal request while a slow client trickles: %v %v", res, err)
		}
		res.Body.Close()
	}
	select {
	case d := <-cut:
		if d > 3*time.Second {
			t.Fatalf("slow client cut after %s, want about 1s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("slow client never cut")
	}
	// The socket opened before is still served after the read timeout.
	time.Sleep(2500 * time.Millisecond)
	if st, _ := a.Send(a.Direct(testcluster.Register(t, node, "slx")), "after", "hi"); st != 201 {
		t.Fatalf("send %d", st)
	}
	sock.WaitFor(10*time.Second, "a message on the socket opened before the read timeout", func(fs []testcluster.Frame) bool {
		return slices.ContainsFunc(fs, func(f testcluster.Frame) bool { return f.Type == "message.new" })
	})
}
