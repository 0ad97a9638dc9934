package fcm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/ringchat/ringchat/notify"
)

const (
	fcmErrorType = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
	// defaultRetryAfter is the wait after a 429 that names none.
	defaultRetryAfter = 60 * time.Second
	// maxRetryAfter caps a server's Retry-After, lest a bad header park a
	// notice for ever.
	maxRetryAfter = 24 * time.Hour
)

// APIError is FCM's answer to a send that failed. Send's errors wrap it.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Status is the google.rpc.Code name, e.g. "INVALID_ARGUMENT".
	Status string
	// ErrorCode is the FcmError detail's errorCode, e.g. "UNREGISTERED".
	ErrorCode string
	Message   string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("fcm: HTTP %d", e.StatusCode)
	for _, part := range []string{e.Status, e.ErrorCode} {
		if part != "" {
			s += " " + part
		}
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// errorBody is FCM's error JSON (a google.rpc.Status).
type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

// classify turns a failed send's answer into Send's error.
func classify(status int, h http.Header, body []byte, now time.Time) error {
	e := &APIError{StatusCode: status}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil { // a proxy's HTML page leaves only the status
		e.Status, e.Message = eb.Error.Status, truncate(eb.Error.Message, 512)
		for _, d := range eb.Error.Details {
			if d.Type == fcmErrorType && d.ErrorCode != "" {
				e.ErrorCode = d.ErrorCode
			}
		}
	}
	after, hasAfter := retryAfter(h.Get("Retry-After"), now)
	switch {
	case e.ErrorCode == "UNREGISTERED" || e.ErrorCode == "SENDER_ID_MISMATCH":
		return fmt.Errorf("%w: %w", e, notify.ErrGone)
	case status == http.StatusTooManyRequests || e.ErrorCode == "QUOTA_EXCEEDED":
		if !hasAfter {
			after = defaultRetryAfter
		}
		return &notify.RetryAfterError{After: after, Err: e}
	case status == http.StatusUnauthorized || e.ErrorCode == "THIRD_PARTY_AUTH_ERROR":
		// Bad credentials (ours, or the APNs/Web Push ones in the Firebase project).
		return &notify.PermanentError{Err: e}
	case status >= 500 || status == http.StatusRequestTimeout ||
		e.ErrorCode == "INTERNAL" || e.ErrorCode == "UNAVAILABLE":
		if hasAfter {
			return &notify.RetryAfterError{After: after, Err: e}
		}
		return e
	case status >= 400:
		// INVALID_ARGUMENT, PERMISSION_DENIED, NOT_FOUND without UNREGISTERED:
		// the same request would be refused again.
		return &notify.PermanentError{Err: e}
	}
	return e // 1xx or 3xx: FCM sends neither; try again later
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// ParseUint gives the largest uint64 for a range error; both are capped.
		d = time.Duration(min(secs, uint64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// tokenError classifies a failure to get an access token: transient, unless
// the token endpoint refused the credentials themselves.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("fcm: getting an OAuth token: %w", err)
	}
	r := &TokenRefusedError{StatusCode: re.Response.StatusCode, Code: re.ErrorCode, Description: re.ErrorDescription, err: re}
	if r.Code == "" { // oauth2's JWT flow leaves the RFC 6749 error unparsed
		var b struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &b) == nil {
			r.Code, r.Description = b.Error, truncate(b.Description, 512)
		}
	}
	switch r.Code {
	case "invalid_grant", "invalid_client", "unauthorized_client":
		// A deleted key, a disabled account, a bad signature: retrying cannot help.
		return &notify.PermanentError{Err: r}
	}
	return r
}

// TokenRefusedError is the OAuth token endpoint's refusal (RFC 6749 5.2).
type TokenRefusedError struct {
	StatusCode  int
	Code        string // e.g. "invalid_grant"
	Description string
	err         *oauth2.RetrieveError
}

func (e *TokenRefusedError) Error() string {
	s := fmt.Sprintf("fcm: the OAuth token endpoint answered HTTP %d", e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

func (e *TokenRefusedError) Unwrap() error { return e.err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}
