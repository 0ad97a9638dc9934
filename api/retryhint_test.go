package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/socket"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// Walks the one error-code table (statusOf): every code a client should
// retry unchanged (429, 503) carries the same wait on both transports,
// Retry-After on REST and retry_after_ms in the WebSocket error frame; no
// other code carries either. A code added to the table is covered here.
func TestRetryHintOnBothTransports(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	e := echo.New()
	retryable := 0
	for code, status := range statusOf {
		err := repo.Errorf(code, "failed")
		rec := httptest.NewRecorder()
		s.errorHandler(err, e.NewContext(httptest.NewRequest(http.MethodPost, "/v1/x", nil), rec))
		if rec.Code != status {
			t.Fatalf("%s: REST status %d, want %d", code, rec.Code, status)
		}
		raw, _ := json.Marshal(socket.ErrorFrame(err))
		var frame map[string]any
		if err := json.Unmarshal(raw, &frame); err != nil {
			t.Fatal(err)
		}
		if frame["code"] != string(code) || frame["message"] != "failed" {
			t.Fatalf("%s: error frame %s", code, raw)
		}
		header := rec.Header().Get("Retry-After")
		ms, inFrame := frame["retry_after_ms"]
		if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
			if header != "" || inFrame {
				t.Fatalf("%s (%d) is not retryable as is, but carries Retry-After %q / frame %s", code, status, header, raw)
			}
			continue
		}
		retryable++
		secs, perr := strconv.Atoi(header)
		if perr != nil || secs < 1 {
			t.Fatalf("%s: REST Retry-After %q", code, header)
		}
		if ms, ok := ms.(float64); !ok || int(ms) != secs*1000 {
			t.Fatalf("%s: frame %s; want retry_after_ms %d, REST's Retry-After in ms", code, raw, secs*1000)
		}
	}
	if retryable != 2 {
		t.Fatalf("%d retryable codes in the table; want rate_limited and unavailable", retryable)
	}
}

// An error with its own wait (an early send) carries that wait, rounded up
// to whole seconds, on both transports alike.
func TestOwnRetryHintOnBothTransports(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	err := chat.RetryLater(repo.Errorf(repo.CodeUnavailable, "early"), 2300*time.Millisecond)
	rec := httptest.NewRecorder()
	s.errorHandler(err, echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/v1/x", nil), rec))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("REST %d Retry-After %q; want 503 and 3", rec.Code, rec.Header().Get("Retry-After"))
	}
	if f := socket.ErrorFrame(err); f.RetryAfterMs != 3000 || f.Code != repo.CodeUnavailable {
		t.Fatalf("frame %+v; want unavailable, retry_after_ms 3000", f)
	}
}
