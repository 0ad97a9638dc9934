package testcluster

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// server answers 503 (with retryAfter as Retry-After unless empty) to the
// first refusals requests, then ok with body (201 to a registration).
func server(t *testing.T, refusals int64, retryAfter string, ok int, body string) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= refusals {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"unavailable"}}`))
			return
		}
		st := ok
		if r.URL.Path == "/v1/auth/register" {
			st = http.StatusCreated
		}
		w.WriteHeader(st)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A 503 with Retry-After is retried after the wait it names, until the
// answer changes.
func TestSetupRetriesBusyAnswerAfterItsRetryAfter(t *testing.T) {
	srv, n := server(t, 2, "1", 200, `{"ok":true}`)
	began := time.Now()
	st, body := callRetrying(t, 10*time.Second, "GET", srv.URL, "", nil)
	if st != 200 || body["ok"] != true || n.Load() != 3 {
		t.Fatalf("two 503s with Retry-After: 1 then 200: got %d %v after %d requests, want 200 after 3", st, body, n.Load())
	}
	if took := time.Since(began); took < 2*time.Second {
		t.Fatalf("retried after %s, want the two 1 s waits honoured", took)
	}
}

// Within the bound only: a node that stays busy is a failure, and a 503
// without Retry-After (not a load answer) is returned at once.
func TestSetupRetryIsBounded(t *testing.T) {
	srv, n := server(t, 1<<30, "1", 200, `{}`)
	began := time.Now()
	if st, _ := callRetrying(t, 2500*time.Millisecond, "GET", srv.URL, "", nil); st != 503 {
		t.Fatalf("always busy: %d, want the 503", st)
	}
	if took := time.Since(began); took > 4*time.Second || n.Load() > 3 {
		t.Fatalf("always busy, bound 2.5 s: gave up after %s and %d requests", took, n.Load())
	}
	bare, m := server(t, 1<<30, "", 200, `{}`)
	if st, _ := callRetrying(t, 10*time.Second, "GET", bare.URL, "", nil); st != 503 || m.Load() != 1 {
		t.Fatalf("503 without Retry-After: %d after %d requests, want it returned at once", st, m.Load())
	}
	// Call itself never retries: tests assert 503s through it.
	if st, _ := Call(t, "GET", srv.URL, "", nil); st != 503 {
		t.Fatalf("Call: %d, want the 503 as it is", st)
	}
}

// Register, the helper whose 503 used to fail a test, gets through a
// node busy hashing passwords.
func TestRegisterThroughBusyNode(t *testing.T) {
	srv, n := server(t, 1, "1", 200, `{"token":"tok","device_id":"7","user":{"id":"42"}}`)
	c := Register(t, &Node{URL: srv.URL}, "busy")
	if c.Token != "tok" || c.UserID != "42" || n.Load() != 3 {
		t.Fatalf("register after a 503: %+v after %d requests, want a client after 3 (503, register, login)", c, n.Load())
	}
}
