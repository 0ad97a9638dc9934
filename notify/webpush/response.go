package webpush

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ringchat/ringchat/notify"
)

const (
	// DefaultRetryAfter is the wait for a 429 without a usable Retry-After.
	DefaultRetryAfter = time.Minute
	// MaxRetryAfter caps what a push service may ask for.
	MaxRetryAfter = 24 * time.Hour

	excerptLen = 512      // of an error answer's body, kept in the error
	drainLen   = 64 << 10 // read past the excerpt so the connection can be reused
)

// StatusError is a push service's unsuccessful answer; it is wrapped in the
// error Send returns.
type StatusError struct {
	Code int
	// Body is the start of the answer's body, at most 512 bytes.
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("webpush: push service answered %d %s: %q", e.Code, http.StatusText(e.Code), e.Body)
}

// classify maps the push service's answer (RFC 8030 §5, RFC 8292 §4) and
// closes its body.
func classify(resp *http.Response, now time.Time) error {
	code := resp.StatusCode
	excerpt := readExcerpt(resp.Body)
	if code >= 200 && code < 300 { // 201 Created per RFC 8030; some answer 200 or 202
		return nil
	}
	serr := &StatusError{Code: code, Body: excerpt}
	retryAfter, hasRetryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), now)
	switch {
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%w: %w", notify.ErrGone, serr)
	case code == http.StatusTooManyRequests:
		if !hasRetryAfter {
			retryAfter = DefaultRetryAfter
		}
		return &notify.RetryAfterError{After: retryAfter, Err: serr}
	case code >= 500:
		if hasRetryAfter {
			return &notify.RetryAfterError{After: retryAfter, Err: serr}
		}
		return serr
	case code == http.StatusRequestTimeout:
		return serr
	default:
		// 400 bad headers or payload, 401/403 VAPID refused, 413 too large,
		// and redirects, which are not followed: retrying sends the same.
		return &notify.PermanentError{Err: serr}
	}
}

// readExcerpt reads a bounded amount of body and closes it.
func readExcerpt(body io.ReadCloser) string {
	defer body.Close()
	b, _ := io.ReadAll(io.LimitReader(body, excerptLen))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLen))
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3),
// capped at MaxRetryAfter; a date in the past means now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter), true
}
