// Package apns is the notify.Sender for Apple Push Notification service: the
// HTTP/2 provider API with token (.p8) authentication, through
// github.com/sideshow/apns2, whose token package makes the ES256 provider
// token and refreshes it before Apple's hour runs out.
package apns

import (
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"

	"github.com/ringchat/ringchat/notify"
)

// DefaultTimeout bounds one request when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config is how to reach APNs and sign for it.
type Config struct {
	// KeyP8 is the contents of the .p8 file (a PKCS #8 PEM P-256 key).
	KeyP8 []byte
	// KeyID is the key's 10-character id; TeamID the developer team's.
	KeyID  string
	TeamID string
	// Endpoint overrides the host ("https://host[:port]"). It defaults to
	// Apple's production host; it is also used for sandbox targets when
	// SandboxEndpoint is empty, so an override never leaks a sandbox target
	// to Apple.
	Endpoint string
	// SandboxEndpoint overrides the host for Target.Sandbox; it defaults to
	// Endpoint, or else to Apple's development host.
	SandboxEndpoint string
	// RootCAs is for tests only; nil means the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds one request, connecting included (DefaultTimeout if 0).
	Timeout time.Duration
}

// Sender sends notify.Notifications to APNs. It is safe for concurrent use
// and keeps its connections open between sends, as Apple asks; Close them.
type Sender struct {
	prod, sandbox *apns2.Client
	tok           *token.Token
	tr            *transport
}

// New checks cfg and makes a Sender. It does not connect yet.
func New(cfg Config) (*Sender, error) {
	tok, err := providerToken(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("apns: config: negative Timeout %s", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	prodHost, err := endpoint("Endpoint", cfg.Endpoint, apns2.HostProduction)
	if err != nil {
		return nil, err
	}
	sandboxDefault := apns2.HostDevelopment
	if cfg.Endpoint != "" {
		sandboxDefault = prodHost
	}
	sandboxHost, err := endpoint("SandboxEndpoint", cfg.SandboxEndpoint, sandboxDefault)
	if err != nil {
		return nil, err
	}

	// Our own HTTP/2 transport rather than apns2.NewTokenClient's, for the
	// root CAs and without apns2's package-level dial settings.
	tr := &transport{base: &http2.Transport{
		TLSClientConfig: &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		ReadIdleTimeout: 15 * time.Second, // ping a quiet connection to find it dead
		PingTimeout:     5 * time.Second,
	}}
	hc := &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// APNs never redirects; following one would post the notice, and
		// perhaps the provider token, somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Sender{
		prod:    &apns2.Client{Host: prodHost, Token: tok, HTTPClient: hc},
		sandbox: &apns2.Client{Host: sandboxHost, Token: tok, HTTPClient: hc},
		tok:     tok,
		tr:      tr,
	}, nil
}

// Kind is notify.KindAPNs.
func (s *Sender) Kind() notify.Kind { return notify.KindAPNs }

// Close closes the idle connections (a Send afterwards opens new ones).
func (s *Sender) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// providerToken parses the key and makes the first token, so that a key
// that cannot sign fails here and not on every send.
func providerToken(cfg Config) (*token.Token, error) {
	if len(cfg.KeyP8) == 0 {
		return nil, errors.New("apns: config: KeyP8 is empty")
	}
	if err := checkID("KeyID", cfg.KeyID); err != nil {
		return nil, err
	}
	if err := checkID("TeamID", cfg.TeamID); err != nil {
		return nil, err
	}
	key, err := token.AuthKeyFromBytes(cfg.KeyP8)
	if err != nil {
		return nil, fmt.Errorf("apns: config: KeyP8 is not a PKCS #8 PEM EC key: %w", err)
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("apns: config: KeyP8 is a %s key, ES256 needs P-256", key.Curve.Params().Name)
	}
	tok := &token.Token{AuthKey: key, KeyID: cfg.KeyID, TeamID: cfg.TeamID}
	if _, err := tok.Generate(); err != nil {
		return nil, fmt.Errorf("apns: config: signing a provider token: %w", err)
	}
	return tok, nil
}

// checkID rejects an empty id, or one that would break the JWT header.
func checkID(field, v string) error {
	if v == "" {
		return fmt.Errorf("apns: config: %s is required", field)
	}
	for _, c := range v {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("apns: config: %s %q has a character other than printable ASCII", field, v)
		}
	}
	return nil
}

// endpoint checks an https://host[:port] override, or returns def.
func endpoint(field, v, def string) (string, error) {
	if v == "" {
		return def, nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", fmt.Errorf("apns: config: %s: %w", field, err)
	}
	if u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("apns: config: %s %q is not https://host[:port]", field, v)
	}
	return u.Scheme + "://" + u.Host, nil
}
