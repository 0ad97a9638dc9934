package fcm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ringchat/ringchat/notify"
)

// maxAnswer bounds how much of FCM's answer is read: a success is a name,
// an error a short status.
const maxAnswer = 64 << 10

// Send delivers n to the registration token t.Token. Its error is nil,
// notify.ErrGone (wrapped, with an *APIError), a *notify.RetryAfterError, a
// *notify.PermanentError, or anything else for a transient failure.
func (s *Sender) Send(ctx context.Context, t notify.Target, n notify.Notification) error {
	if t.Kind != "" && t.Kind != notify.KindFCM {
		return &notify.PermanentError{Err: fmt.Errorf("fcm: a %q target", t.Kind)}
	}
	if err := checkToken(t.Token); err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("fcm: registration token: %w", err)}
	}
	body, err := buildMessage(t.Token, n, time.Now())
	if err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("fcm: notification %s: %w", n.ID, err)}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fcm: send: %w", err)
	}

	src := s.source.Load()
	// The token request cannot take ctx (oauth2's JWT flow does not), so it is
	// bounded by the client's Timeout instead.
	tok, err := src.Token()
	if err != nil {
		return tokenError(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.sendURL, bytes.NewReader(body))
	if err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("fcm: making the request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	tok.SetAuthHeader(req)

	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("fcm: send: %w", err)
	}
	defer resp.Body.Close()
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil // accepted; the name in the body is not needed
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// FCM refused a token oauth2 still thinks valid (revoked, or a key
		// rotated): drop it so the next send fetches another. Only the first
		// of concurrent refusals replaces the source.
		s.source.CompareAndSwap(src, &tokenSource{s.newSource()})
	}
	if readErr != nil {
		// Which error this was is in the part not read: try again.
		return fmt.Errorf("fcm: reading the HTTP %d answer: %w", resp.StatusCode, readErr)
	}
	return classify(resp.StatusCode, resp.Header, answer, time.Now())
}
