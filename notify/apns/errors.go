package apns

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sideshow/apns2"

	"github.com/ringchat/ringchat/notify"
)

// DefaultTooManyRequestsWait is how long a 429 asks the caller to wait when
// it carries no Retry-After, which APNs never sends: Apple documents no
// interval for TooManyRequests (too many notices to one device) or
// TooManyProviderTokenUpdates, and a minute outlasts both in practice.
const DefaultTooManyRequestsWait = time.Minute

// maxRetryAfter caps a Retry-After in seconds (a day), far below where a
// time.Duration would overflow.
const maxRetryAfter = 24 * 60 * 60

// Error is an answer from APNs other than 200.
type Error struct {
	Status int
	// Reason is APNs' reason string ("" when the body had none).
	Reason string
	ApnsID string
	// Timestamp is, for a 410, when APNs last knew the token invalid.
	Timestamp time.Time
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apns: %d %s", e.Status, e.Reason)
	if e.Reason == "" {
		b.WriteString("(no reason)")
	}
	if e.ApnsID != "" {
		fmt.Fprintf(&b, " (apns-id %s)", e.ApnsID)
	}
	if !e.Timestamp.IsZero() {
		fmt.Fprintf(&b, ", token invalid since %s", e.Timestamp.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// classify maps an APNs answer to notify's errors:
//   - 410 (Unregistered, ExpiredToken), 400 BadDeviceToken and 400
//     DeviceTokenNotForTopic: notify.ErrGone, the token is no good;
//   - 429: *notify.RetryAfterError, Retry-After or DefaultTooManyRequestsWait;
//   - 403 ExpiredProviderToken: transient (Send has expired the token);
//   - other 400, 403, 404, 405, 413: *notify.PermanentError;
//   - 5xx: *notify.RetryAfterError with a Retry-After, else transient;
//   - anything else: transient.
func classify(e *Error, retryAfter string, now time.Time) error {
	switch {
	case e.Status == http.StatusGone,
		e.Status == http.StatusBadRequest && (e.Reason == apns2.ReasonBadDeviceToken || e.Reason == apns2.ReasonDeviceTokenNotForTopic):
		return fmt.Errorf("%w: %w", notify.ErrGone, e)
	case e.Status == http.StatusTooManyRequests:
		after, ok := parseRetryAfter(retryAfter, now)
		if !ok {
			after = DefaultTooManyRequestsWait
		}
		return &notify.RetryAfterError{After: after, Err: e}
	case e.Status == http.StatusForbidden && e.Reason == apns2.ReasonExpiredProviderToken:
		return e
	case e.Status == http.StatusBadRequest, e.Status == http.StatusForbidden,
		e.Status == http.StatusNotFound, e.Status == http.StatusMethodNotAllowed,
		e.Status == http.StatusRequestEntityTooLarge:
		return &notify.PermanentError{Err: e}
	case e.Status >= 500:
		if after, ok := parseRetryAfter(retryAfter, now); ok {
			return &notify.RetryAfterError{After: after, Err: e}
		}
		return e
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
		if sec < 0 {
			return 0, false
		}
		return time.Duration(min(sec, maxRetryAfter)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter*time.Second), true
}
