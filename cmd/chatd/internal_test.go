package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/schema"
)

// The internal listener has the public one's limits: a header block past
// --http-max-header-bytes gets 431, and a connection left idle after a call
// is closed after --http-idle-timeout (before, it had neither limit, so
// anyone reaching the port could pin connections forever).
func TestInternalListenerHasTheHTTPLimits(t *testing.T) {
	node := testcluster.Start(t, nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour}),
		"--http-idle-timeout=1s")
	call := func(conn net.Conn, r *bufio.Reader, headers string) string {
		t.Helper()
		_, err := io.WriteString(conn, "POST /internal/v1/deliver HTTP/1.1\r\nHost: node\r\nContent-Length: 0\r\n"+headers+"\r\n")
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.Proto + " " + res.Status
	}
	conn, err := net.Dial("tcp", node.Internal)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if got := call(conn, r, "X-Padding: "+strings.Repeat("p", 64<<10)+"\r\n"); got != "HTTP/1.1 431 Request Header Fields Too Large" {
		t.Errorf("64 KiB of headers: %q, want 431", got)
	}
	conn2, err := net.Dial("tcp", node.Internal)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	r2 := bufio.NewReader(conn2)
	if got := call(conn2, r2, ""); !strings.HasPrefix(got, "HTTP/1.1 401") {
		t.Fatalf("unsigned call: %q, want 401", got)
	}
	// Idle now: the node must close the connection (EOF), not keep it.
	_ = conn2.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	_, err = r2.ReadByte()
	if err != io.EOF {
		t.Fatalf("idle connection after %s: %v, want closed by the node", time.Since(start).Round(time.Millisecond), err)
	}
}
