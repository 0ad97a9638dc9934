// Package webpushtest runs a local Web Push service for tests. It checks what
// a real push service checks (the VAPID header of RFC 8292, the aes128gcm
// content coding, TTL, Topic, Urgency, the 4096-byte limit) and, unlike a
// real one, decrypts each message (RFC 8291) with the subscription's private
// key and auth secret, so tests can assert on the plaintext the browser would
// see. Its decryption shares no code with the sender's encryption.
package webpushtest

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
)

// Subscription is what a browser's PushSubscription would hand chatd.
type Subscription struct {
	ID       string
	Endpoint string
	P256DH   string // unpadded base64url
	Auth     string // unpadded base64url
}

// Target returns the subscription as a notify.Target.
func (s Subscription) Target() notify.Target {
	return notify.Target{Kind: notify.KindWebPush, Endpoint: s.Endpoint, P256DH: s.P256DH, Auth: s.Auth}
}

// Answer replaces the server's answer to one valid request.
type Answer struct {
	Status     int
	RetryAfter string // the Retry-After header, if not empty
	Body       string
}

// Push is one message the server accepted and decrypted.
type Push struct {
	SubscriptionID string
	Plaintext      []byte
	Topic          string // "" when absent
	TTL            int
	Urgency        string // "" when absent
	// Subject, VAPIDKey and Expires come from the verified VAPID header.
	Subject  string
	VAPIDKey string
	Expires  time.Time
}

// Rejection is one request the server refused, with why.
type Rejection struct {
	SubscriptionID string
	Status         int
	Reason         string
}

type subKeys struct {
	priv *ecdh.PrivateKey
	auth []byte
}

// Server is a local push service. It is safe for concurrent use.
type Server struct {
	tb     testing.TB
	srv    *httptest.Server
	origin string

	mu          sync.Mutex
	subs        map[string]subKeys
	requiredKey []byte
	answers     []Answer
	pushes      []Push
	rejections  []Rejection
	changed     chan struct{} // closed and replaced when pushes grows
}

// New starts a server that is closed when tb's test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, subs: map[string]subKeys{}, changed: make(chan struct{})}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serveHTTP))
	s.origin = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// URL is the server's origin, https://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// Client returns an *http.Client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CertificatePEM is the server's certificate, for a process that must trust
// it (chatd's --push-ca-file).
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Close shuts the server down; it may be called more than once.
func (s *Server) Close() { s.srv.Close() }

// NewSubscription makes a subscription whose keys the server keeps.
func (s *Server) NewSubscription() Subscription {
	s.tb.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		s.tb.Fatalf("webpushtest: generate subscription key: %v", err)
	}
	auth := make([]byte, 16)
	id := make([]byte, 12)
	if _, err := rand.Read(auth); err != nil {
		s.tb.Fatalf("webpushtest: auth secret: %v", err)
	}
	if _, err := rand.Read(id); err != nil {
		s.tb.Fatalf("webpushtest: subscription id: %v", err)
	}
	sub := Subscription{
		ID:       hex.EncodeToString(id),
		Endpoint: s.origin + "/push/" + hex.EncodeToString(id),
		P256DH:   base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:     base64.RawURLEncoding.EncodeToString(auth),
	}
	s.mu.Lock()
	s.subs[sub.ID] = subKeys{priv: priv, auth: auth}
	s.mu.Unlock()
	return sub
}

// Remove forgets a subscription: pushes to it are answered 410 Gone.
func (s *Server) Remove(id string) {
	s.mu.Lock()
	delete(s.subs, id)
	s.mu.Unlock()
}

// RequireKey makes the server refuse (403) any VAPID key but publicKey, as a
// push service does for a subscription made with that applicationServerKey.
func (s *Server) RequireKey(publicKey string) {
	s.tb.Helper()
	k, err := decodeKey(publicKey)
	if err != nil {
		s.tb.Fatalf("webpushtest: RequireKey: %v", err)
	}
	s.mu.Lock()
	s.requiredKey = k.Bytes()
	s.mu.Unlock()
}

// Inject queues answers for the next valid requests, one each, in order.
// Requests the server refuses on its own checks do not consume them.
func (s *Server) Inject(answers ...Answer) {
	s.mu.Lock()
	s.answers = append(s.answers, answers...)
	s.mu.Unlock()
}

// Pushes returns the messages accepted so far.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

// Rejections returns the requests refused so far, by its checks or by an
// injected answer that was not 2xx.
func (s *Server) Rejections() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejections...)
}

// WaitPushes waits until at least n messages were accepted, or ctx ends.
func (s *Server) WaitPushes(ctx context.Context, n int) ([]Push, error) {
	for {
		s.mu.Lock()
		pushes, changed := append([]Push(nil), s.pushes...), s.changed
		s.mu.Unlock()
		if len(pushes) >= n {
			return pushes, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return pushes, ctx.Err()
		}
	}
}

func (s *Server) recordPush(p Push) {
	s.mu.Lock()
	s.pushes = append(s.pushes, p)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) reject(w http.ResponseWriter, id string, status int, reason string) {
	s.mu.Lock()
	s.rejections = append(s.rejections, Rejection{SubscriptionID: id, Status: status, Reason: reason})
	s.mu.Unlock()
	http.Error(w, reason, status)
}

// nextAnswer pops an injected answer, if any.
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
