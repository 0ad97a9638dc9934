package snowflake

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/gocql/gocql"
)

// unavailable reports driver errors that mean "the ring did not answer, or
// not in time": worth retrying, and ErrUnavailable to a caller. The outcome of
// a lightweight transaction that timed out is unknown (it may have applied).
func unavailable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, gocql.ErrNoConnections), errors.Is(err, gocql.ErrNoConnectionsStarted),
		errors.Is(err, gocql.ErrTimeoutNoResponse), errors.Is(err, gocql.ErrConnectionClosed),
		errors.Is(err, gocql.ErrSessionClosed), errors.Is(err, gocql.ErrUnavailable),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var (
		unavail  *gocql.RequestErrUnavailable
		wTimeout *gocql.RequestErrWriteTimeout
		rTimeout *gocql.RequestErrReadTimeout
		wFailure *gocql.RequestErrWriteFailure
		rFailure *gocql.RequestErrReadFailure
		casUnk   *gocql.RequestErrCASWriteUnknown
	)
	if errors.As(err, &unavail) || errors.As(err, &wTimeout) || errors.As(err, &rTimeout) ||
		errors.As(err, &wFailure) || errors.As(err, &rFailure) || errors.As(err, &casUnk) {
		return true
	}
	var reqErr gocql.RequestError
	if errors.As(err, &reqErr) {
		switch reqErr.Code() {
		case gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping, gocql.ErrCodeUnavailable,
			gocql.ErrCodeWriteTimeout, gocql.ErrCodeReadTimeout, gocql.ErrCodeCASWriteUnknown:
			return true
		}
	}
	return false
}
