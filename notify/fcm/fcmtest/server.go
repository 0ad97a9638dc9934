// Package fcmtest is a local Firebase Cloud Messaging for tests: an HTTPS
// server that speaks FCM's HTTP v1 send API and Google's OAuth 2.0 token
// endpoint for service accounts, and checks what the real ones check, so a
// client that passes here is not merely talking to something that says yes.
//
// A test makes a Server, a service account for a project
// (NewServiceAccount) and registration tokens (NewToken), points the client
// at URL() with Client(), and then asserts on Messages(), TokenRequests() and
// SendRequests(), or makes the next answers fail with Inject.
package fcmtest

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Scope is the OAuth scope a send needs.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// Paths the server answers on.
const (
	tokenPath = "/token"
	sendPath  = "/v1/projects/{project}/messages:send"
)

// Answer is an injected reply to one send request (see Server.Inject).
type Answer struct {
	// Status is the HTTP status, an error one (400 or more), e.g. 429 or 503.
	Status int
	// ErrorCode is the FcmError detail's errorCode (UNREGISTERED,
	// SENDER_ID_MISMATCH, QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL,
	// INVALID_ARGUMENT, THIRD_PARTY_AUTH_ERROR); none when empty.
	ErrorCode string
	// RetryAfter is sent as the Retry-After header when not empty (seconds
	// or an HTTP date).
	RetryAfter string
	// Message is the error's message; a default one when empty.
	Message string
}

// Server is a local FCM. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu            sync.Mutex
	accounts      map[string]*account    // by client_email
	tokens        map[string]accessToken // issued OAuth access tokens
	devices       map[string]string      // registration token -> project
	messages      []Message
	answers       []Answer
	changed       chan struct{} // closed, then replaced, when a message is recorded
	tokenLifetime time.Duration
	tokenRequests int
	sendRequests  int
	nextID        int
}

type accessToken struct {
	project string
	expires time.Time
}

// NewServer starts a Server; it is closed when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		accounts:      map[string]*account{},
		tokens:        map[string]accessToken{},
		devices:       map[string]string{},
		changed:       make(chan struct{}),
		tokenLifetime: time.Hour, // what Google grants
	}
	mux := http.NewServeMux()
	mux.HandleFunc(tokenPath, s.handleToken)
	mux.HandleFunc(sendPath, s.handleSend)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.EnableHTTP2 = true // as FCM does
	s.srv.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server and closes its client's idle connections. It may be
// called more than once.
func (s *Server) Close() { s.srv.Close() }

// URL is the FCM endpoint (the client's Endpoint), without a trailing slash.
func (s *Server) URL() string { return s.srv.URL }

// TokenURL is the OAuth token endpoint the service accounts' token_uri names.
func (s *Server) TokenURL() string { return s.srv.URL + tokenPath }

// Client is an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CertificatePEM is the server's certificate, for a process that must trust
// it (chatd's --push-ca-file).
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// SetTokenLifetime sets how long access tokens issued from now on last
// (expires_in, whole seconds, at least one; the default is an hour), so a test
// can watch the client refresh its token.
func (s *Server) SetTokenLifetime(d time.Duration) {
	d = d.Round(time.Second)
	if d < time.Second {
		d = time.Second
	}
	s.mu.Lock()
	s.tokenLifetime = d
	s.mu.Unlock()
}

// RevokeTokens makes every access token issued so far invalid, as when a key
// is disabled: sends with them are answered 401 UNAUTHENTICATED.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
}

// TokenRequests counts requests to the token endpoint, refused ones included.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

// SendRequests counts requests to the send endpoint, refused ones included.
func (s *Server) SendRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendRequests
}

// RegisterToken makes a registration token known, as an app instance of
// projectID would. Sends to it through another project are answered 403
// SENDER_ID_MISMATCH.
func (s *Server) RegisterToken(projectID, token string) {
	s.mu.Lock()
	s.devices[token] = projectID
	s.mu.Unlock()
}

// NewToken registers and returns a fresh registration token for projectID,
// shaped like FCM's.
func (s *Server) NewToken(projectID string) string {
	tok := randomString(16) + ":APA91b" + randomString(100)
	s.RegisterToken(projectID, tok)
	return tok
}

// UnregisterToken forgets a registration token, as when the app is
// uninstalled: sends to it are answered 404 UNREGISTERED.
func (s *Server) UnregisterToken(token string) {
	s.mu.Lock()
	delete(s.devices, token)
	s.mu.Unlock()
}

// Inject queues answers for the next send requests, one each, in order. They
// are given after the request's credentials and message shape have been
// checked, so a broken request is still refused for what it is.
func (s *Server) Inject(answers ...Answer) {
	s.mu.Lock()
	s.answers = append(s.answers, answers...)
	s.mu.Unlock()
}

// Messages returns the accepted messages, oldest first. Treat them as read-only.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitMessages waits until at least n messages have been accepted and returns
// them all, or returns ctx's error with how many there were.
func (s *Server) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		have, ch := len(s.messages), s.changed
		if have >= n {
			out := append([]Message(nil), s.messages...)
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("fcmtest: %d of %d messages: %w", have, n, ctx.Err())
		}
	}
}

// record keeps an accepted message and wakes WaitMessages. s.mu is held.
func (s *Server) record(m Message) {
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}
