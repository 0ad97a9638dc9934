package webpush

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
)

// ErrInvalidSubscription is wrapped (inside a *notify.PermanentError) when a
// target's endpoint or keys are malformed.
var ErrInvalidSubscription = errors.New("webpush: invalid subscription")

// maxEndpointLen bounds a client-supplied URL; real ones are a few hundred bytes.
const maxEndpointLen = 2048

type subscription struct {
	endpoint *url.URL
	p256dh   string // unpadded base64url
	auth     string // unpadded base64url
}

// parseTarget checks what a browser's PushSubscription must look like.
func parseTarget(t notify.Target) (subscription, error) {
	if t.Kind != "" && t.Kind != notify.KindWebPush {
		return subscription{}, fmt.Errorf("%w: target kind %q", ErrInvalidSubscription, t.Kind)
	}
	u, err := parseEndpoint(t.Endpoint)
	if err != nil {
		return subscription{}, fmt.Errorf("%w: endpoint: %w", ErrInvalidSubscription, err)
	}
	pk, err := parsePublicKey(t.P256DH)
	if err != nil {
		return subscription{}, fmt.Errorf("%w: p256dh: %w", ErrInvalidSubscription, err)
	}
	auth, err := decodeBase64URL(t.Auth)
	if err != nil {
		return subscription{}, fmt.Errorf("%w: auth: not base64url: %w", ErrInvalidSubscription, err)
	}
	if len(auth) != 16 {
		return subscription{}, fmt.Errorf("%w: auth: want 16 bytes, got %d", ErrInvalidSubscription, len(auth))
	}
	return subscription{
		endpoint: u,
		p256dh:   b64(pk.Bytes()),
		auth:     b64(auth),
	}, nil
}

func parseEndpoint(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if len(s) > maxEndpointLen {
		return nil, fmt.Errorf("longer than %d bytes", maxEndpointLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL") // url.Error would echo the endpoint
	}
	if u.Scheme != "https" || u.Opaque != "" || u.Hostname() == "" {
		return nil, errors.New("want an absolute https URL")
	}
	if u.User != nil {
		return nil, errors.New("user info not allowed")
	}
	return u, nil
}

// checkEndpoint refuses endpoints chatd must not call. IP literals and
// localhost names are refused here, before any network use; names are
// otherwise checked by the guarded dialer, or resolved here when the client's
// dialer could not be guarded.
func (s *Sender) checkEndpoint(ctx context.Context, u *url.URL) error {
	if s.allowPrivate {
		return nil
	}
	host := u.Hostname()
	if repo.PrivateHost(host) { // the rule registration applies (chat/push.go)
		return &notify.PermanentError{Err: fmt.Errorf("%s: %w", hostOnly(u), ErrPrivateEndpoint)}
	}
	if !s.preResolve {
		return nil
	}
	addrs, err := resolve(ctx, s.lookup, host)
	if err != nil {
		return err // DNS trouble is transient
	}
	for _, a := range addrs {
		if blockedAddr(a) {
			return &notify.PermanentError{Err: fmt.Errorf("%s resolves to %s: %w", hostOnly(u), a, ErrPrivateEndpoint)}
		}
	}
	return nil
}
