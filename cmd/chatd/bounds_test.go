package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/schema"
)

// memoryBoundKB is the most a chatd (built with -race, which multiplies heap
// and stack several times) may ever hold resident while one user has 300
// sockets and clients throw 10 MB frames and bodies at it. A node without the
// race detector uses a fraction of it (measured 2026-12-01: peak 244 MB with -race).
const memoryBoundKB = 400 << 10

// procKB reads a "VmHWM:   1234 kB" style line of /proc/<pid>/status.
func procKB(t *testing.T, pid int, field string) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// Resource bounds (issue 12): 300 sockets for one user all get a message;
// 10 MB frames close their sockets with 1009 and 10 MB bodies get 413, without
// the node buffering them; the node's peak memory stays under the bound and
// it keeps serving.
func TestResourceBounds(t *testing.T) {
	node := testcluster.Start(t, nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour}))
	a := testcluster.Register(t, node, "rba")
	b := testcluster.Register(t, node, "rbb")
	conv := a.Direct(b)

	const sockets = 300
	socks := make([]*testcluster.Socket, sockets)
	for i := range socks {
		s, err := b.DialE()
		if err != nil {
			t.Fatalf("socket %d of one user: %v", i, err)
		}
		socks[i] = s
	}
	st, id := a.Send(conv, "rb-1", "to 300 sockets")
	if st != 201 {
		t.Fatalf("send: %d", st)
	}
	for i, s := range socks {
		s.WaitFor(30*time.Second, fmt.Sprintf("message on socket %d", i), func([]testcluster.Frame) bool { return s.MessageIDs()[id] > 0 })
	}
	t.Logf("300 sockets: VmRSS %d kB", procKB(t, node.PID(), "VmRSS"))

	// 10 MB frames from several sockets at once.
	url := "ws" + strings.TrimPrefix(node.URL, "http") + "/v1/ws"
	big := bytes.Repeat([]byte("x"), 10<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- bigFrame(url, a.Token, big)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	// 10 MB bodies, with and without a declared length.
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("POST", node.URL+"/v1/conversations/"+conv+"/messages", bytes.NewReader(big))
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Authorization", "Bearer "+a.Token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("10 MB body (chunked %v): %v", chunked, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("10 MB body (chunked %v): %d, want 413", chunked, res.StatusCode)
		}
	}

	// Still serving, the sockets still live.
	st, id = a.Send(conv, "rb-2", "after the abuse")
	if st != 201 {
		t.Fatalf("send after: %d", st)
	}
	socks[sockets-1].WaitFor(30*time.Second, "message after", func([]testcluster.Frame) bool { return socks[sockets-1].MessageIDs()[id] > 0 })
	hwm := procKB(t, node.PID(), "VmHWM")
	t.Logf("peak resident memory (VmHWM) %d kB; bound %d kB", hwm, memoryBoundKB)
	if hwm > memoryBoundKB {
		t.Fatalf("chatd peaked at %d kB resident, over the %d kB bound", hwm, memoryBoundKB)
	}
}

// bigFrame sends one 10 MB text frame and wants the socket closed with 1009.
func bigFrame(url, token string, payload []byte) error {
	conn, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	closed := make(chan error, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_ = conn.WriteMessage(websocket.TextMessage, payload) // the node stops reading part-way
	err = <-closed
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		return fmt.Errorf("10 MB frame: socket ended with %v, want close 1009", err)
	}
	return nil
}
