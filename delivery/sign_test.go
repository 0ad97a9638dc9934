package delivery

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/delivery/ws"
)

// The internal endpoint takes only calls signed for this process, inside the
// window, once: not the bearer secret, not a forged, stale, future,
// tampered, misdirected or replayed call.
func TestInternalCallsMustBeSignedFreshAndNew(t *testing.T) {
	log := quietLog()
	c := New(Config{Secret: "the-secret", Instance: "me", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	srv := httptest.NewServer(c.InternalHandler())
	defer srv.Close()
	body := []byte(`{"items":[]}`)
	call := func(prepare func(*http.Request)) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+InternalDeliverPath, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		prepare(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	signed := func(secret, target string, b []byte, at time.Time) func(*http.Request) {
		return func(req *http.Request) { SignRequest(req, secret, target, b, at) }
	}
	now := time.Now()
	cases := []struct {
		name    string
		prepare func(*http.Request)
		want    int
	}{
		{"no credentials", func(*http.Request) {}, 401},
		{"the bearer secret", func(r *http.Request) { r.Header.Set("Authorization", "Bearer the-secret") }, 401},
		{"signed with another secret", signed("other", "me", body, now), 401},
		{"signed for another process", signed("the-secret", "someone-else", body, now), 401},
		{"signed over another body", signed("the-secret", "me", []byte(`{"items":[{}]}`), now), 401},
		{"stale", signed("the-secret", "me", body, now.Add(-signWindow-time.Second)), 401},
		{"from the future", signed("the-secret", "me", body, now.Add(signWindow+time.Second)), 401},
		{"garbage signature", func(r *http.Request) {
			signed("the-secret", "me", body, now)(r)
			r.Header.Set(headerSignature, "zz")
		}, 401},
		{"correctly signed", signed("the-secret", "me", body, now), 204},
		{"near the window's edge", signed("the-secret", "me", body, now.Add(-signWindow+2*time.Second)), 204},
	}
	for _, tc := range cases {
		if got := call(tc.prepare); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// The same signed call twice: the copy is refused.
	var first *http.Request
	if got := call(func(r *http.Request) { SignRequest(r, "the-secret", "me", body, time.Now()); first = r }); got != 204 {
		t.Fatalf("signed call: %d", got)
	}
	if got := call(func(r *http.Request) { r.Header = first.Header.Clone() }); got != 401 {
		t.Errorf("replayed call: %d, want 401", got)
	}
}

// signedAt is a correctly signed empty call to instance "me" at t.
func signedAt(t *testing.T, secret string, at time.Time) *http.Request {
	t.Helper()
	body := []byte(`{"items":[]}`)
	req, err := http.NewRequest(http.MethodPost, "http://node"+InternalDeliverPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	SignRequest(req, secret, "me", body, at)
	return req
}

// Valid calls at 1,200 a second for 70 s (the old cache of 65,536 nonces
// refused every call after 55 s of that) are all accepted; the cache holds
// only the seconds still inside the window; a replay inside the window is
// still refused, and one past it is stale.
func TestSustainedSignedCallsAboveTheOldCapAreAccepted(t *testing.T) {
	log := quietLog()
	c := New(Config{Secret: "s", Instance: "me", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	const perSecond, seconds = 1200, 70
	start := time.Now()
	var kept []*http.Request
	for sec := range seconds {
		for i := range perSecond {
			at := start.Add(time.Duration(sec)*time.Second + time.Duration(i)*time.Second/perSecond)
			req := signedAt(t, "s", at)
			// Clocks differ between nodes: the target reads its own a little ahead or behind.
			skew := time.Duration(i%21-10) * time.Second
			if err := c.verifyHeaders(req, at.Add(skew)); err != nil {
				t.Fatalf("call %d of second %d refused: %v", i, sec, err)
			}
			if i == 0 {
				kept = append(kept, req)
			}
		}
		if held, most := c.nonces.len(), nonceSlots*perSecond; held > most {
			t.Fatalf("after %d s the cache holds %d nonces; %d seconds' worth is at most %d", sec+1, held, nonceSlots, most)
		}
	}
	now := start.Add(seconds * time.Second)
	if err := c.verifyHeaders(kept[seconds-10], now); !errors.Is(err, errReplayed) {
		t.Errorf("a call replayed 10 s later: %v, want errReplayed", err)
	}
	if err := c.verifyHeaders(kept[seconds-40], now); !errors.Is(err, errStale) {
		t.Errorf("a call replayed 40 s later: %v, want errStale", err)
	}
}

// The cache never grows past its bound: a second's calls past
// maxNoncesPerSecond are refused (503 to the caller, who retries with a
// fresh timestamp), replays still are refused, and the next second is
// accepted again.
func TestNonceCacheIsBoundedPerSecond(t *testing.T) {
	log := quietLog()
	c := New(Config{Secret: "s", Instance: "me", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	sec := time.Unix(time.Now().Unix(), 0)
	var first *http.Request
	for i := range maxNoncesPerSecond {
		req := signedAt(t, "s", sec.Add(time.Duration(i)*time.Second/maxNoncesPerSecond))
		if err := c.verifyHeaders(req, sec); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if i == 0 {
			first = req
		}
	}
	if err := c.verifyHeaders(signedAt(t, "s", sec.Add(999*time.Millisecond)), sec); !errors.Is(err, errNonceFull) {
		t.Fatalf("past the bound: %v, want errNonceFull", err)
	}
	if err := c.verifyHeaders(first, sec); !errors.Is(err, errReplayed) {
		t.Fatalf("a replay into a full second: %v, want errReplayed", err)
	}
	if err := c.verifyHeaders(signedAt(t, "s", sec.Add(time.Second)), sec); err != nil {
		t.Fatalf("the next second: %v", err)
	}
	// Every slot full, and more seconds on: the bound holds.
	for s := int64(1); s < nonceSlots+8; s++ {
		ms := sec.Add(time.Duration(s) * time.Second).UnixMilli()
		for i := range maxNoncesPerSecond + 1 {
			_ = c.nonces.add(fmt.Sprintf("%016x%016x", s, i), ms)
		}
		if held := c.nonces.len(); held > nonceSlots*maxNoncesPerSecond {
			t.Fatalf("%d nonces held, bound %d", held, nonceSlots*maxNoncesPerSecond)
		}
	}
}

// A caller without the secret gets no body read: the node answers 401 to
// the headers alone while the caller is still sending (here, 8 MiB announced
// and 1 KiB sent), and closes nothing it should not. A correctly signed call
// over the same connection kind still delivers.
func TestForgedInternalCallIsRefusedBeforeItsBodyIsRead(t *testing.T) {
	log := quietLog()
	c := New(Config{Secret: "the-secret", Instance: "me", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	srv := httptest.NewServer(c.InternalHandler())
	defer srv.Close()
	head := func(extra string, length int) string {
		return "POST " + InternalDeliverPath + " HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n" +
			"Content-Length: " + strconv.Itoa(length) + "\r\n" + extra + "\r\n"
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	zeros := strings.Repeat("0", 64)
	forged := headerTimestamp + ": " + ts + "\r\n" + headerNonce + ": " + zeros[:32] + "\r\n" +
		headerBodyHash + ": " + zeros + "\r\n" + headerSignature + ": " + zeros + "\r\n"
	status := func(request string) string {
		t.Helper()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, request); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatalf("no answer while the body is still owed: %v", err)
		}
		return strings.TrimSpace(line)
	}
	if got := status(head(forged, maxInternalBody) + strings.Repeat("x", 1024)); got != "HTTP/1.1 401 Unauthorized" {
		t.Errorf("forged call, body still being sent: %q, want 401", got)
	}
	// The same with a real signature from another secret.
	req := signedAt(t, "other", time.Now())
	var other strings.Builder
	for _, h := range []string{headerTimestamp, headerNonce, headerBodyHash, headerSignature} {
		other.WriteString(h + ": " + req.Header.Get(h) + "\r\n")
	}
	if got := status(head(other.String(), maxInternalBody) + "{"); got != "HTTP/1.1 401 Unauthorized" {
		t.Errorf("call signed with another secret, body still being sent: %q, want 401", got)
	}
	// A signed call announcing more than the bound is refused unread too.
	big := signedAt(t, "the-secret", time.Now())
	var bigHead strings.Builder
	for _, h := range []string{headerTimestamp, headerNonce, headerBodyHash, headerSignature} {
		bigHead.WriteString(h + ": " + big.Header.Get(h) + "\r\n")
	}
	if got := status(head(bigHead.String(), maxInternalBody+1) + "{"); got != "HTTP/1.1 413 Request Entity Too Large" {
		t.Errorf("signed call over the bound: %q, want 413", got)
	}
	body := []byte(`{"items":[]}`)
	ok, _ := http.NewRequest(http.MethodPost, srv.URL+InternalDeliverPath, bytes.NewReader(body))
	SignRequest(ok, "the-secret", "me", body, time.Now())
	res, err := http.DefaultClient.Do(ok)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("signed call: %d", res.StatusCode)
	}
}
