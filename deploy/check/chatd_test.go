package check

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The keyspace the metrics check migrates and runs chatd on: one, reused by
// every run (ringchat-migrate up is idempotent), so runs leave no keyspaces.
const checkKeyspace = "deploycheck_metrics"

// family is one metric chatd exported: its type, the label names seen and
// each label's values.
type family struct {
	typ    dto.MetricType
	labels map[string]bool
	values map[string]map[string]bool
}

var (
	scrapeOnce sync.Once
	scraped    map[string]family
	scrapeErr  error
)

// exported is what a running chatd serves on /metrics after some traffic
// and a Cassandra stall (run once, shared by the rules and dashboard checks).
func exported(t *testing.T) map[string]family {
	t.Helper()
	scrapeOnce.Do(func() { scraped, scrapeErr = scrapeChatd() })
	if scrapeErr != nil {
		t.Fatal(scrapeErr)
	}
	return scraped
}

func cassandra() string {
	if h := os.Getenv("RINGCHAT_CASSANDRA_HOSTS"); h != "" {
		return strings.Split(h, ",")[0]
	}
	return "127.0.0.1:9042"
}

// scrapeChatd migrates the check's keyspace, starts chatd on free loopback
// ports with Cassandra behind a proxy the check controls, registers two
// users who exchange a message (so the labelled series exist), stalls the
// proxy so a request's queries time out (so the error series exist), and
// reads the admin listener's /metrics.
func scrapeChatd() (map[string]family, error) {
	host := cassandra()
	if !strings.Contains(host, ":") {
		host += ":9042"
	}
	fmt.Printf("deploy-check: migrating keyspace %s on %s ...\n", checkKeyspace, host)
	migrate := exec.Command(bin+"/ringchat-migrate", "up")
	migrate.Env = cleanEnv(map[string]string{"RINGCHAT_CASSANDRA_HOSTS": host, "RINGCHAT_KEYSPACE": checkKeyspace})
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ringchat-migrate up on %s (is the dev Cassandra up? make stack): %v\n%s", host, err, out)
	}
	proxy, err := startProxy(host)
	if err != nil {
		return nil, err
	}
	defer proxy.close()

	fmt.Println("deploy-check: starting chatd ...")
	cmd := exec.Command(bin + "/chatd")
	cmd.Env = cleanEnv(map[string]string{
		"RINGCHAT_CASSANDRA_HOSTS":   proxy.addr(),
		"RINGCHAT_KEYSPACE":          checkKeyspace,
		"RINGCHAT_LISTEN":            "127.0.0.1:0",
		"RINGCHAT_ADMIN_LISTEN":      "127.0.0.1:0",
		"RINGCHAT_INTERNAL_LISTEN":   "127.0.0.1:0",
		"RINGCHAT_CASSANDRA_TIMEOUT": "500ms",
		"RINGCHAT_S3_ENDPOINT":       "http://127.0.0.1:7070",
		"RINGCHAT_S3_PATH_STYLE":     "true",
		"RINGCHAT_S3_ACCESS_KEY":     "ringchat",
		"RINGCHAT_S3_SECRET_KEY":     "ringchat-dev-secret",
		"RINGCHAT_LOG_LEVEL":         "warn",
	})
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Killed, not stopped: a graceful stop would wait on the stalled ring.
	// Its node-id lease lapses by its TTL.
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addrs := make(chan [2]string, 1)
	go func() {
		var api, admin string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "chatd admin on "); ok {
				admin = a
			}
			if a, ok := strings.CutPrefix(line, "chatd serving on "); ok {
				api = a
				addrs <- [2]string{api, admin}
			}
		}
		close(addrs)
	}()
	var api, admin string
	select {
	case a, ok := <-addrs:
		if !ok {
			return nil, fmt.Errorf("chatd exited before serving:\n%s", stderr.String())
		}
		api, admin = a[0], a[1]
	case <-time.After(90 * time.Second):
		return nil, fmt.Errorf("chatd did not serve within 90 s:\n%s", stderr.String())
	}

	fmt.Println("deploy-check: two users, one conversation, one message ...")
	token, err := traffic(api)
	if err != nil {
		return nil, fmt.Errorf("traffic: %v\nchatd's log:\n%s", err, stderr.String())
	}
	// Stalled: bytes to and from Cassandra are dropped, so queries time out.
	proxy.stall.Store(true)
	if _, err := call("GET", api+"/v1/me", token, nil); err == nil {
		return nil, fmt.Errorf("a request with Cassandra stalled succeeded")
	}

	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("/metrics: %v", err)
	}
	out := map[string]family{}
	for name, mf := range mfs {
		f := family{typ: mf.GetType(), labels: map[string]bool{}, values: map[string]map[string]bool{}}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				f.labels[l.GetName()] = true
				if f.values[l.GetName()] == nil {
					f.values[l.GetName()] = map[string]bool{}
				}
				f.values[l.GetName()][l.GetValue()] = true
			}
		}
		out[name] = f
	}
	fmt.Printf("deploy-check: chatd exported %d metric families\n", len(out))
	return out, nil
}

// traffic is README's quickstart: register two users, log one in, open a
// direct conversation and send a message.
func traffic(api string) (token string, err error) {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	a, b := "dca"+hex.EncodeToString(suffix), "dcb"+hex.EncodeToString(suffix)
	for _, h := range []string{a, b} {
		if _, err := call("POST", api+"/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse battery"}); err != nil {
			return "", err
		}
	}
	login, err := call("POST", api+"/v1/auth/login", "", map[string]any{"handle": a, "password": "correct horse battery"})
	if err != nil {
		return "", err
	}
	token, _ = login["token"].(string)
	found, err := call("GET", api+"/v1/users?handle="+b, token, nil)
	if err != nil {
		return "", err
	}
	user, _ := found["user"].(map[string]any)
	conv, err := call("POST", api+"/v1/conversations", token, map[string]any{"kind": "direct", "member_ids": []any{user["id"]}})
	if err != nil {
		return "", err
	}
	c, _ := conv["conversation"].(map[string]any)
	_, err = call("POST", fmt.Sprintf("%s/v1/conversations/%v/messages", api, c["id"]), token, map[string]any{"client_msg_id": "deploy-check-1", "body": "hello"})
	return token, err
}

// call sends one JSON request and decodes the answer; a status past 299 is an error.
func call(method, url, token string, body any) (map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s %s: %s %s", method, url, resp.Status, raw)
	}
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("%s %s: %v: %s", method, url, err, raw)
		}
	}
	return out, nil
}

// proxy forwards TCP to Cassandra until stalled; stalled, it drops what
// either side sends (connections stay open, queries time out).
type proxy struct {
	ln     net.Listener
	target string
	stall  atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go p.pipe(u, c)
			go p.pipe(c, u)
		}
	}()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stall.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}
