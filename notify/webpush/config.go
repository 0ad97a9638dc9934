// Package webpush delivers notifications to browsers through their Web Push
// subscriptions: VAPID (RFC 8292) identifies chatd to the push service and the
// payload is encrypted for the browser with aes128gcm (RFC 8291), both done by
// github.com/SherClockHolmes/webpush-go.
//
// A subscription is client-supplied input, so Send checks it before any
// request and, unless Config.AllowPrivateEndpoints is set, refuses endpoints
// on loopback, private, link-local or unspecified addresses.
package webpush

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	webpushgo "github.com/SherClockHolmes/webpush-go"

	"github.com/ringchat/ringchat/notify"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout = 10 * time.Second
	DefaultUrgency = "high"
	// DefaultTTL applies when a Notification has no TTL: a chat notice older
	// than a day is stale.
	DefaultTTL = 24 * time.Hour
)

// ErrInvalidConfig is wrapped by every error New returns.
var ErrInvalidConfig = errors.New("webpush: invalid config")

// Config configures a Sender.
type Config struct {
	// VAPIDPublicKey and VAPIDPrivateKey are base64url (padded or not), as
	// GenerateKeys and webpush-go's GenerateVAPIDKeys make them.
	VAPIDPublicKey  string
	VAPIDPrivateKey string
	// Subject is the operator's contact, a mailto: or https: URI (the JWT sub).
	Subject string
	// HTTPClient is optional; the Sender uses a copy that follows no
	// redirects. Its *http.Transport is cloned to check the addresses it
	// dials; with a proxy (a nil Transport means http.DefaultTransport, which
	// takes one from the environment), a custom TLS dialer or another
	// RoundTripper, the endpoint's host is resolved and checked before each
	// request instead. Without HTTPClient no proxy is used.
	HTTPClient *http.Client
	// Timeout bounds one Send (DefaultTimeout when zero).
	Timeout time.Duration
	// Urgency is "very-low", "low", "normal" or "high" (DefaultUrgency when empty).
	Urgency string
	// DefaultTTL is used when Notification.TTL is zero (DefaultTTL when zero).
	DefaultTTL time.Duration
	// AllowPrivateEndpoints lets endpoints resolve to loopback, private,
	// link-local or unspecified addresses. Only tests should set it.
	AllowPrivateEndpoints bool
}

// Sender sends Web Push notifications. It is safe for concurrent use.
type Sender struct {
	client       *http.Client
	publicKey    string
	privateKey   string
	subscriber   string // Subject as webpush-go wants it (see subscriber)
	urgency      webpushgo.Urgency
	timeout      time.Duration
	defaultTTL   time.Duration
	allowPrivate bool
	preResolve   bool // the dialer could not be guarded: resolve and check first
	lookup       lookupFunc
}

var _ notify.Sender = (*Sender)(nil)

// New validates cfg and returns a Sender.
func New(cfg Config) (*Sender, error) {
	return newSender(cfg, defaultLookup)
}

func newSender(cfg Config, lookup lookupFunc) (*Sender, error) {
	pub, priv, err := vapidKeys(cfg.VAPIDPublicKey, cfg.VAPIDPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	sub, err := subscriber(cfg.Subject)
	if err != nil {
		return nil, fmt.Errorf("%w: Subject %q: %w", ErrInvalidConfig, cfg.Subject, err)
	}
	s := &Sender{
		publicKey: pub, privateKey: priv, subscriber: sub,
		urgency: DefaultUrgency, timeout: cfg.Timeout, defaultTTL: cfg.DefaultTTL,
		allowPrivate: cfg.AllowPrivateEndpoints, lookup: lookup,
	}
	if cfg.Urgency != "" {
		s.urgency = webpushgo.Urgency(cfg.Urgency)
	}
	switch s.urgency {
	case webpushgo.UrgencyVeryLow, webpushgo.UrgencyLow, webpushgo.UrgencyNormal, webpushgo.UrgencyHigh:
	default:
		return nil, fmt.Errorf("%w: Urgency %q: want very-low, low, normal or high", ErrInvalidConfig, cfg.Urgency)
	}
	if s.timeout < 0 || s.defaultTTL < 0 {
		return nil, fmt.Errorf("%w: negative Timeout or DefaultTTL", ErrInvalidConfig)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.defaultTTL == 0 {
		s.defaultTTL = DefaultTTL
	}
	s.client, s.preResolve = buildClient(cfg.HTTPClient, cfg.AllowPrivateEndpoints, lookup)
	return s, nil
}

// Kind returns notify.KindWebPush.
func (s *Sender) Kind() notify.Kind { return notify.KindWebPush }

// PublicKey returns the VAPID public key (unpadded base64url): browsers pass
// it to pushManager.subscribe as applicationServerKey.
func (s *Sender) PublicKey() string { return s.publicKey }

// CloseIdleConnections closes the idle connections of the Sender's client.
func (s *Sender) CloseIdleConnections() { s.client.CloseIdleConnections() }

// subscriber checks the subject and returns it in the form webpush-go v1.4.0
// expects: it prefixes "mailto:" to anything not starting with "https:", so a
// mailto: subject is passed as the bare address (else the JWT would carry
// "mailto:mailto:...").
func subscriber(subject string) (string, error) {
	u, err := url.Parse(subject)
	if err != nil {
		return "", fmt.Errorf("not a URI: %w", err)
	}
	switch u.Scheme {
	case "mailto":
		a, err := mail.ParseAddress(u.Opaque)
		if err != nil || a.Address != u.Opaque || u.RawQuery != "" {
			return "", errors.New("want mailto: and one bare e-mail address")
		}
		return u.Opaque, nil
	case "https":
		if u.Host == "" || u.User != nil {
			return "", errors.New("want an https: URL with a host and no user info")
		}
		return u.String(), nil // url.Parse lowercased the scheme
	default:
		return "", errors.New("want a mailto: or https: URI")
	}
}

// buildClient copies base (so its CheckRedirect can be replaced) and, unless
// private endpoints are allowed, guards the addresses its transport dials. It
// reports whether the guard could not be installed.
func buildClient(base *http.Client, allowPrivate bool, lookup lookupFunc) (*http.Client, bool) {
	var c http.Client
	if base != nil {
		c = *base
	} else {
		c.Transport = defaultTransport()
	}
	// Push services do not redirect; following one would let an endpoint
	// bounce the request (and its VAPID token) somewhere else.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if allowPrivate {
		return &c, false
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	// Through a proxy the dialer reaches the proxy, not the endpoint, and a
	// custom TLS dialer bypasses DialContext: neither can be guarded.
	if !ok || t.Proxy != nil || t.DialTLSContext != nil || t.DialTLS != nil {
		return &c, true
	}
	t = t.Clone()
	inner := t.DialContext
	if inner == nil && t.Dial != nil {
		inner = dialWithoutContext(t.Dial)
	}
	t.DialContext = guardedDial(inner, lookup, blockedAddr)
	t.Dial = nil
	c.Transport = t
	return &c, false
}

// defaultTransport is http.DefaultTransport's settings without the proxy
// from the environment, so that the dial guard sees the endpoint's address.
func defaultTransport() *http.Transport {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Transport{ForceAttemptHTTP2: true}
	}
	t = t.Clone()
	t.Proxy = nil
	return t
}

// hostOnly keeps an endpoint out of error messages: it is a capability URL.
func hostOnly(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + u.Host
}
