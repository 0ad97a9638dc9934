// Package apnstest is a local APNs provider API server for tests: HTTP/2 over
// TLS, token (JWT) authentication, and the checks Apple makes on a request,
// answering with Apple's status codes and reason strings. The real service
// cannot be reached from the machines ringchat is tested on, so this server
// is what keeps the sender honest: it refuses what Apple would refuse.
package apnstest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Answer is an injected reply: Status with Apple's Reason, and a Retry-After
// header when RetryAfter is set.
type Answer struct {
	Status     int
	Reason     string
	RetryAfter string
}

// Request is one request the server answered, as far as it could be parsed.
type Request struct {
	Token string // device token from the path
	// Header holds the request's headers (the bearer token included: it is a
	// test key's JWT, recorded so a test can see the token was refreshed).
	Header     http.Header
	Topic      string
	PushType   string
	ID         string // apns-id as sent ("" when absent)
	CollapseID string
	Priority   string
	Expiration string
	// KeyID, TeamID and IssuedAt come from a verified provider token.
	KeyID    string
	TeamID   string
	IssuedAt time.Time
	Body     []byte
	Payload  map[string]any // the decoded body, when it decoded
	// Status, Reason and ApnsID are what the server answered.
	Status int
	Reason string
	ApnsID string
}

type key struct {
	teamID string
	pub    *ecdsa.PublicKey
}

type device struct {
	topic   string
	removed time.Time // non-zero: answered 410 Unregistered since then
}

// Server is a running APNs test server. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	keys     map[string]key    // by key id
	devices  map[string]device // by lower-case device token
	answers  []Answer
	requests []Request
}

// NewServer starts a server that tb closes at cleanup. It knows no keys and
// no devices yet: see NewKey, AddKey and AddDevice.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{keys: map[string]key{}, devices: map[string]device{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.EnableHTTP2 = true // with StartTLS: ALPN offers h2 only, as Apple does
	s.srv.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

// URL is the server's base URL (https://127.0.0.1:port), for Config.Endpoint.
func (s *Server) URL() string { return s.srv.URL }

// CAPool holds the certificate the server presents, for Config.RootCAs.
func (s *Server) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.srv.Certificate())
	return pool
}

// Client is an HTTP/2 client that trusts the server, for posting hand-made
// requests.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CertificatePEM is the server's certificate, for a process that must trust
// it (chatd's --push-ca-file).
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Close shuts the server down and closes its connections. It is idempotent.
func (s *Server) Close() { s.srv.Close() }

// NewKey makes a fresh key (see GenerateKey) and registers it.
func (s *Server) NewKey(tb testing.TB) Key {
	tb.Helper()
	k, err := GenerateKey()
	if err != nil {
		tb.Fatalf("apnstest: %v", err)
	}
	s.AddKey(k)
	return k
}

// AddKey registers k's public key under its key id and team id, as uploading
// a .p8 key to Apple's developer account does.
func (s *Server) AddKey(k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.KeyID] = key{teamID: k.TeamID, pub: &k.Private.PublicKey}
}

// AddDevice registers a device token for topic (the app's bundle id).
func (s *Server) AddDevice(token, topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices[strings.ToLower(token)] = device{topic: topic}
}

// RemoveDevice makes token answer 410 Unregistered from now on, as when the
// app is uninstalled.
func (s *Server) RemoveDevice(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := strings.ToLower(token)
	d := s.devices[t]
	d.removed = time.Now()
	s.devices[t] = d
}

// Inject queues n copies of a. Each queued answer replaces the 200 of the
// next request that passes every check, so that a request the server would
// refuse anyway is still refused for its own reason.
func (s *Server) Inject(n int, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.answers = append(s.answers, a)
	}
}

// Pending is how many injected answers are still queued.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.answers)
}

// Requests returns a copy of every request answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Accepted returns the requests answered 200: the notifications delivered.
func (s *Server) Accepted() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Status == http.StatusOK {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

func (s *Server) key(kid string) (key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[kid]
	return k, ok
}

func (s *Server) device(token string) (device, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[strings.ToLower(token)]
	return d, ok
}

// nextAnswer pops the next injected answer, if any.
func (s *Server) nextAnswer() (Answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.answers) == 0 {
		return Answer{}, false
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, true
}
