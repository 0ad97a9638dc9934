package webpush

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	webpushgo "github.com/SherClockHolmes/webpush-go"

	"github.com/ringchat/ringchat/notify"
)

// Send encrypts n for the subscription in t and posts it to t.Endpoint.
//
// A malformed subscription, a refused endpoint address or a notice too large
// even when shortened is a *notify.PermanentError, found before any request.
// The push service's answer maps as: 2xx → nil; 404, 410 → notify.ErrGone
// (wrapped: use errors.Is); 429 → *notify.RetryAfterError (Retry-After, else
// DefaultRetryAfter); 5xx → *notify.RetryAfterError with a Retry-After, else
// transient; 408 and network failures → transient; any other answer (400,
// 401, 403, 413, redirects) → *notify.PermanentError. Answers carry a
// *StatusError.
func (s *Sender) Send(ctx context.Context, t notify.Target, n notify.Notification) error {
	sub, err := parseTarget(t)
	if err != nil {
		return &notify.PermanentError{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.checkEndpoint(ctx, sub.endpoint); err != nil {
		return err
	}
	body, err := encodePayload(n)
	if err != nil {
		return &notify.PermanentError{Err: err}
	}
	resp, err := webpushgo.SendNotificationWithContext(ctx, body, &webpushgo.Subscription{
		Endpoint: sub.endpoint.String(),
		Keys:     webpushgo.Keys{P256dh: sub.p256dh, Auth: sub.auth},
	}, &webpushgo.Options{
		HTTPClient:      s.client,
		Subscriber:      s.subscriber,
		Topic:           topic(n),
		TTL:             ttlSeconds(n.TTL, s.defaultTTL),
		Urgency:         s.urgency,
		VAPIDPublicKey:  s.publicKey,
		VAPIDPrivateKey: s.privateKey,
	})
	if err != nil {
		return sendError(err, sub.endpoint)
	}
	return classify(resp, time.Now())
}

// ttlSeconds rounds up, so that a sub-second TTL does not become 0 ("deliver
// only to a device online now").
func ttlSeconds(ttl, def time.Duration) int {
	if ttl <= 0 {
		ttl = def
	}
	return int((ttl + time.Second - 1) / time.Second)
}

// sendError maps a failure before any answer from the push service.
func sendError(err error, endpoint *url.URL) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = hostOnly(endpoint) // the full endpoint is a capability: keep it out of logs
	}
	switch {
	case errors.Is(err, ErrPrivateEndpoint):
		return &notify.PermanentError{Err: err}
	case errors.Is(err, webpushgo.ErrMaxPadExceeded):
		return &notify.PermanentError{Err: fmt.Errorf("%w: %w", ErrPayloadTooLarge, err)}
	case ue != nil:
		return fmt.Errorf("webpush: post to %s: %w", hostOnly(endpoint), err)
	default:
		return fmt.Errorf("webpush: encrypt or sign for %s: %w", hostOnly(endpoint), err)
	}
}
