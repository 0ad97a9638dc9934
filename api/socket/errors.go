package socket

import (
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// ErrorData is an error frame's data: the code and message a REST answer of
// the same error carries, and the same retry hint (chat.RetryAfter).
type ErrorData struct {
	Code         repo.Code `json:"code"`
	Message      string    `json:"message"`
	RetryAfterMs int64     `json:"retry_after_ms,omitempty"`
}

// ErrorFrame is the one place an error becomes a frame's data.
func ErrorFrame(err error) ErrorData {
	return ErrorData{Code: repo.ErrorCode(err), Message: repo.ErrorMessage(err), RetryAfterMs: chat.RetryAfter(err).Milliseconds()}
}

// replyError answers a client frame with an error frame for err.
func replyError(c *ws.Client, ref string, err error) {
	c.Reply(ref, "error", ErrorFrame(err))
}

func invalid(format string, args ...any) error {
	return repo.Errorf(repo.CodeInvalidArgument, format, args...)
}
