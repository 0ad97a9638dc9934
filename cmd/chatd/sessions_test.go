package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/schema"
)

// Logout through one node closes the session's socket on another.
func TestLogoutClosesTheSessionsSocketsOnEveryNode(t *testing.T) {
	nodes := startNodes(t, clusterEnv(t), 2)
	a := testcluster.Register(t, nodes[0], "loa")
	kept := a.On(nodes[1]).Dial()
	leaving := testcluster.Login(t, nodes[1], a.Handle)
	sock := leaving.Dial()
	// Node 0 finds node 1 through the user's route: wait until it reads it.
	waitOnline(t, a.On(nodes[0]), a.UserID)
	if st, body := leaving.On(nodes[0]).Do("POST", "/v1/auth/logout", nil); st != 204 {
		t.Fatalf("logout through node 0: %d %v", st, body)
	}
	var ce *websocket.CloseError
	if err := sock.Closed(10 * time.Second); !errors.As(err, &ce) || ce.Code != 1008 {
		t.Fatalf("the logged-out session's socket on node 1: %v; want closed with 1008", err)
	}
	if err := kept.Closed(500 * time.Millisecond); err != nil {
		t.Fatalf("another session of the same user was closed too: %v", err)
	}

	// A ticket from node 0 redeemed on node 1 while node 0 logs its session out:
	// whichever comes first, no socket survives.
	for i := 0; i < 10; i++ {
		dev := testcluster.Login(t, nodes[0], a.Handle)
		st, body := dev.Do("POST", "/v1/ws/tickets", nil)
		if st != 201 {
			t.Fatalf("ticket: %d %v", st, body)
		}
		url := "ws" + strings.TrimPrefix(nodes[1].URL, "http") + "/v1/ws?ticket=" + body["ticket"].(string)
		var wg sync.WaitGroup
		var conn *websocket.Conn
		var dialErr error
		wg.Add(2)
		go func() { defer wg.Done(); conn, _, dialErr = websocket.DefaultDialer.Dial(url, nil) }()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%4) * 3 * time.Millisecond)
			if st, body := dev.Do("POST", "/v1/auth/logout", nil); st != 204 {
				t.Errorf("logout: %d %v", st, body)
			}
		}()
		wg.Wait()
		if dialErr != nil {
			continue
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				if !errors.As(err, &ce) || ce.Code != 1008 {
					t.Fatalf("round %d: socket opened on node 1 during logout on node 0 ended with %v, want 1008 within 10 s", i, err)
				}
				break
			}
		}
		conn.Close()
	}
}

// 1,000 wrong-password logins at once against a chatd with the production
// argon2id cost (19 MiB a hash): unbounded, they would want about 19 GiB.
// The hashing bound keeps chatd's peak RSS under a stated bound, and other
// requests are served meanwhile.
func TestConcurrentWrongPasswordLoginsKeepMemoryBounded(t *testing.T) {
	env := nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	env["RINGCHAT_PASSWORD_HASH_CONCURRENCY"] = "0" // the default: GOMAXPROCS
	node := testcluster.Start(t, env)
	victim := testcluster.Register(t, node, "mem")
	n := 1000
	if s := os.Getenv("RINGCHAT_TEST_LOGIN_STORM"); s != "" { // smaller storms for runs without the bound
		n, _ = strconv.Atoi(s)
	}
	// The race-built chatd of the tests idles at about 100 MiB; 1 GiB is
	// generous for that plus a few hashes, and ~5% of 1,000 unbounded ones.
	const boundKiB = 1 << 20

	tr := &http.Transport{MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var wrong, busy, other atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body := strings.NewReader(fmt.Sprintf(`{"handle":%q,"password":"wrong password %d"}`, victim.Handle, i))
			resp, err := hc.Post(node.URL+"/v1/auth/login", "application/json", body)
			if err != nil {
				other.Add(1)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case 401:
				wrong.Add(1)
			case 503:
				if resp.Header.Get("Retry-After") == "" {
					other.Add(1)
				}
				busy.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	stormDone := make(chan struct{})
	go func() { wg.Wait(); close(stormDone) }()
	close(start)
	var slowest time.Duration
	served := 0
	for loop := true; loop; {
		select {
		case <-stormDone:
			loop = false
		default:
		}
		began := time.Now()
		st, body := victim.Do("GET", "/v1/me", nil)
		if st != 200 {
			t.Fatalf("GET /v1/me during the login storm: %d %v", st, body)
		}
		served++
		slowest = max(slowest, time.Since(began))
		time.Sleep(20 * time.Millisecond)
	}
	hwm := procKB(t, node.PID(), "VmHWM")
	t.Logf("%d logins: %d wrong password, %d refused busy (503), %d other; GET /v1/me served %d times, slowest %s; chatd VmHWM %d MiB",
		n, wrong.Load(), busy.Load(), other.Load(), served, slowest, hwm>>10)
	if other.Load() != 0 {
		t.Fatalf("%d logins answered neither 401 nor 503 with Retry-After", other.Load())
	}
	if hwm > boundKiB {
		t.Fatalf("chatd peak RSS %d MiB during %d concurrent logins, bound %d MiB", hwm>>10, n, boundKiB>>10)
	}
	if slowest > 10*time.Second { // generous: the test machine is shared
		t.Fatalf("GET /v1/me took %s during the login storm", slowest)
	}
}
