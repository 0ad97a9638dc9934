package chat

import (
	"errors"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// retryAfterDefault is what unavailable and rate_limited answers tell
// clients to wait unless the error names its own wait: Retry-After on REST,
// retry_after_ms in a WebSocket error frame.
const retryAfterDefault = time.Second

// RetryAfter is how long a client should wait before retrying after err: its
// own wait (RetryLater) if it has one, else a second for unavailable and
// rate_limited, and 0 for codes a retry as is does not help.
func RetryAfter(err error) time.Duration {
	switch repo.ErrorCode(err) {
	case repo.CodeUnavailable, repo.CodeRateLimited:
	default:
		return 0
	}
	var w *waitError
	if errors.As(err, &w) {
		return w.wait
	}
	return retryAfterDefault
}

// waitError is an error whose retry hint is its own wait rather than its
// code's (a send that is early, not failed: retried when it is due).
type waitError struct {
	err  error
	wait time.Duration
}

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// RetryLater gives err, of a retryable code, the retry hint wait (whole
// seconds, as Retry-After has them, at least one).
func RetryLater(err error, wait time.Duration) error {
	return &waitError{err: err, wait: max(time.Second, (wait + time.Second - 1).Truncate(time.Second))}
}

func invalid(format string, args ...any) error {
	return repo.Errorf(repo.CodeInvalidArgument, format, args...)
}

func tooLarge(format string, args ...any) error {
	return repo.Errorf(repo.CodeTooLarge, format, args...)
}
