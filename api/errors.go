package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// codeMethodNotAllowed is the router's own code (no storage call returns it):
// the path exists, the method does not; the Allow header lists the methods.
const codeMethodNotAllowed repo.Code = "method_not_allowed"

// statusOf is the one place that maps error codes to HTTP statuses.
var statusOf = map[repo.Code]int{
	repo.CodeInvalidArgument:  http.StatusBadRequest,
	repo.CodeUnauthenticated:  http.StatusUnauthorized,
	repo.CodePermissionDenied: http.StatusForbidden,
	repo.CodeNotFound:         http.StatusNotFound,
	codeMethodNotAllowed:      http.StatusMethodNotAllowed,
	repo.CodeConflict:         http.StatusConflict,
	repo.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	repo.CodeRateLimited:      http.StatusTooManyRequests,
	repo.CodeUnavailable:      http.StatusServiceUnavailable,
	repo.CodeInternal:         http.StatusInternalServerError,
}

// codeOfStatus maps Echo's own errors (unknown route, wrong method, body too large).
var codeOfStatus = map[int]repo.Code{
	http.StatusBadRequest:            repo.CodeInvalidArgument,
	http.StatusUnauthorized:          repo.CodeUnauthenticated,
	http.StatusForbidden:             repo.CodePermissionDenied,
	http.StatusNotFound:              repo.CodeNotFound,
	http.StatusMethodNotAllowed:      codeMethodNotAllowed,
	http.StatusRequestEntityTooLarge: repo.CodeTooLarge,
	http.StatusUnsupportedMediaType:  repo.CodeInvalidArgument,
	http.StatusTooManyRequests:       repo.CodeRateLimited,
	http.StatusServiceUnavailable:    repo.CodeUnavailable,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    repo.Code `json:"code"`
	Message string    `json:"message"`
}

// retryAfterOf is the retry hint of an answer of code for err: chat's for
// the codes a retry helps (unavailable, rate_limited: Echo's own 503 and 429
// included), none for the others.
func retryAfterOf(code repo.Code, err error) time.Duration {
	if code != repo.CodeUnavailable && code != repo.CodeRateLimited {
		return 0
	}
	return max(chat.RetryAfter(err), time.Second)
}

// countSend counts a send's outcome by transport: "ok", or the code its
// answer carries (a shed one is "unavailable", as its answer says).
func (s *Server) countSend(transport string, err error) {
	result := "ok"
	if err != nil {
		code, _, _ := classify(err)
		result = string(code)
	}
	s.metrics.Send(transport, result)
}

// errSendPanicked is what countedSend counts for a send that panicked: the
// recover middleware (REST) answers it internal, the socket's closes 1011.
var errSendPanicked = repo.Errorf(repo.CodeInternal, "the send panicked")

// countedSend runs a send and counts its outcome, a panic included (as
// internal; the panic goes on with its own stack).
func (s *Server) countedSend(transport string, send func() error) (err error) {
	err = errSendPanicked
	defer func() { s.countSend(transport, err) }()
	err = send()
	return err
}

// sendResults are the results countSend can count: "ok" and every code
// answered (all of statusOf's, so a new code cannot be left out).
func sendResults() []string {
	rs := []string{"ok"}
	for code := range statusOf {
		rs = append(rs, string(code))
	}
	return rs
}

// classify turns any error into a code, a client-safe message and a status.
func classify(err error) (repo.Code, string, int) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code, ok := codeOfStatus[he.Code]
		if !ok {
			code = repo.CodeInternal
		}
		msg := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok && he.Code < 500 {
			msg = s
		}
		return code, msg, statusOf[code]
	}
	code := repo.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = repo.CodeInternal, http.StatusInternalServerError
	}
	return code, repo.ErrorMessage(err), status
}

// errorHandler is Echo's HTTPErrorHandler: every error response goes through here.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg, status := classify(err)
	if status >= 500 && !errors.Is(err, chat.ErrShed) {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "code", code, "err", err)
	}
	if wait := retryAfterOf(code, err); wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

func invalid(format string, args ...any) error {
	return repo.Errorf(repo.CodeInvalidArgument, format, args...)
}

func tooLarge(format string, args ...any) error {
	return repo.Errorf(repo.CodeTooLarge, format, args...)
}
