package apns

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sideshow/apns2"

	"github.com/ringchat/ringchat/notify"
)

// Send delivers n to the device t names. Its error is nil, notify.ErrGone
// (wrapped with APNs' reason), a *notify.RetryAfterError, a
// *notify.PermanentError, or a transient error; see classify.
func (s *Sender) Send(ctx context.Context, t notify.Target, n notify.Notification) error {
	if err := checkTarget(t); err != nil {
		return err
	}
	body, err := buildPayload(n)
	if err != nil {
		return &notify.PermanentError{Err: err}
	}
	msg := &apns2.Notification{
		ApnsID:      apnsID(n.ID),
		CollapseID:  collapseID(n.CollapseKey),
		DeviceToken: t.Token,
		Topic:       t.Topic,
		Expiration:  expiration(time.Now(), n.TTL),
		Priority:    apns2.PriorityHigh,
		PushType:    apns2.PushTypeAlert,
		Payload:     body,
	}
	client := s.prod
	if t.Sandbox {
		client = s.sandbox
	}

	ex := &exchange{}
	resp, err := client.PushWithContext(withExchange(ctx, ex), msg)
	if err != nil {
		if ex.status == 0 {
			// No answer at all: the connection, the timeout, or ctx.
			return fmt.Errorf("apns: post notification %s: %w", msg.ApnsID, err)
		}
		// An answer whose body did not decode still has its status.
		resp = &apns2.Response{StatusCode: ex.status}
	}
	if resp.StatusCode == apns2.StatusSent {
		return nil
	}
	if resp.StatusCode == http.StatusForbidden && resp.Reason == apns2.ReasonExpiredProviderToken {
		s.expireToken(ex.authz)
	}
	return classify(&Error{
		Status:    resp.StatusCode,
		Reason:    resp.Reason,
		ApnsID:    resp.ApnsID,
		Timestamp: resp.Timestamp.Time,
	}, ex.retryAfter, time.Now())
}

// expireToken makes the next send sign a new provider token, unless the token
// APNs called expired (authz) was already replaced: concurrent sends that
// all got ExpiredProviderToken must not refresh it over and over, which APNs
// answers with 429 TooManyProviderTokenUpdates.
func (s *Sender) expireToken(authz string) {
	s.tok.Lock()
	defer s.tok.Unlock()
	if authz == "bearer "+s.tok.Bearer {
		s.tok.IssuedAt = 0
	}
}
