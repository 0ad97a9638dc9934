// Package fcm is the notify.Sender for Firebase Cloud Messaging: it posts to
// FCM's HTTP v1 API as a Google service account, whose OAuth 2.0 access token
// (the JWT bearer grant) it caches and refreshes through golang.org/x/oauth2.
//
// It speaks HTTP itself rather than through the Firebase Admin SDK, which
// would bring gRPC, Firestore and OpenTelemetry into the module for one POST.
package fcm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/ringchat/ringchat/notify"
)

const (
	// DefaultEndpoint is FCM's API.
	DefaultEndpoint = "https://fcm.googleapis.com"
	// DefaultTimeout bounds one send, and one token request.
	DefaultTimeout = 10 * time.Second
	// DefaultTokenEarlyExpiry is oauth2's own margin.
	DefaultTokenEarlyExpiry = 10 * time.Second
	// Scope is the OAuth scope FCM's send API needs.
	Scope = "https://www.googleapis.com/auth/firebase.messaging"
)

// Config configures a Sender.
type Config struct {
	// CredentialsJSON is a Google service-account key file.
	CredentialsJSON []byte
	// ProjectID is the Firebase project; the key's project_id by default.
	ProjectID string
	// Endpoint is FCM's base URL (https), DefaultEndpoint by default.
	Endpoint string
	// HTTPClient supplies the transport (and cookie jar) for sends and token
	// requests, e.g. one that trusts a test server; http.DefaultTransport's
	// by default. Its Timeout and redirect policy are not used.
	HTTPClient *http.Client
	// Timeout bounds one send and one token request; DefaultTimeout by default.
	Timeout time.Duration
	// TokenEarlyExpiry is how long before its expiry the access token is
	// replaced; DefaultTokenEarlyExpiry by default.
	TokenEarlyExpiry time.Duration
}

// Sender sends through FCM. It is safe for concurrent use.
type Sender struct {
	sendURL   string
	client    *http.Client
	newSource func() oauth2.TokenSource
	// source is the one caching token source; it is replaced only when FCM
	// refuses its token (401), so the next send does not reuse that token.
	source atomic.Pointer[tokenSource]
}

// tokenSource boxes the interface for atomic.Pointer.
type tokenSource struct{ oauth2.TokenSource }

var _ notify.Sender = (*Sender)(nil)

// New checks cfg and makes a Sender. It does not reach the network: the first
// send fetches the first token. ctx's values (not its deadline) stay with the
// token source.
func New(ctx context.Context, cfg Config) (*Sender, error) {
	key, err := parseServiceAccount(cfg.CredentialsJSON)
	if err != nil {
		return nil, fmt.Errorf("fcm: service-account key: %w", err)
	}
	project := cfg.ProjectID
	if project == "" {
		project = key.ProjectID
	}
	if err := checkProjectID(project); err != nil {
		return nil, fmt.Errorf("fcm: project id: %w", err)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if err := checkHTTPS(endpoint); err != nil {
		return nil, fmt.Errorf("fcm: endpoint: %w", err)
	}
	timeout, early := cfg.Timeout, cfg.TokenEarlyExpiry
	if timeout < 0 || early < 0 {
		return nil, errors.New("fcm: Timeout and TokenEarlyExpiry must not be negative")
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if early == 0 {
		early = DefaultTokenEarlyExpiry
	}

	client := &http.Client{
		Timeout: timeout,
		// FCM does not redirect, and following one would turn the POST into a GET.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if cfg.HTTPClient != nil {
		client.Transport, client.Jar = cfg.HTTPClient.Transport, cfg.HTTPClient.Jar
	}
	jc := &jwt.Config{
		Email:        key.ClientEmail,
		PrivateKey:   []byte(key.PrivateKey),
		PrivateKeyID: key.PrivateKeyID,
		Scopes:       []string{Scope},
		TokenURL:     key.TokenURI,
	}
	// oauth2 takes the token requests' client from the context; the source
	// outlives New's ctx, so only its values are kept.
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, client)
	s := &Sender{
		sendURL: strings.TrimRight(endpoint, "/") + "/v1/projects/" + url.PathEscape(project) + "/messages:send",
		client:  client,
		newSource: func() oauth2.TokenSource {
			return oauth2.ReuseTokenSourceWithExpiry(nil, jc.TokenSource(tctx), early)
		},
	}
	s.source.Store(&tokenSource{s.newSource()})
	return s, nil
}

// Kind is notify.KindFCM.
func (s *Sender) Kind() notify.Kind { return notify.KindFCM }

func checkProjectID(p string) error {
	switch {
	case p == "":
		return errors.New("none: set Config.ProjectID or the key's project_id")
	case len(p) > 100 || strings.ContainsFunc(p, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("/?#%", r)
	}):
		return fmt.Errorf("%q is not a project id", p)
	}
	return nil
}

// checkHTTPS refuses URLs that would carry a token in the clear.
func checkHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("unparsable URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an https URL without query or fragment", raw)
	}
	return nil
}
