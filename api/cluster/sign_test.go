package cluster

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api/ws"
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

// The replay cache is bounded: once full of nonces still inside the window,
// new calls are refused (503) rather than the cache growing.
func TestNonceCacheIsBounded(t *testing.T) {
	var nc nonceCache
	later := time.Now().Add(time.Minute)
	for i := range maxNonces {
		if err := nc.add(strconv.Itoa(i), later); err != nil {
			t.Fatalf("nonce %d: %v", i, err)
		}
	}
	if err := nc.add("one-more", later); err != errNonceFull {
		t.Fatalf("past the bound: %v, want errNonceFull", err)
	}
	// Expired entries make room.
	var old nonceCache
	past := time.Now().Add(-time.Second)
	for i := range maxNonces {
		_ = old.add(strconv.Itoa(i), past)
	}
	if err := old.add("fresh", later); err != nil {
		t.Fatalf("with every entry expired: %v", err)
	}
}
