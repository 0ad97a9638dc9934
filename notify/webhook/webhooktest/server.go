// Package webhooktest is an integration's endpoint for tests: it checks each
// delivery as a receiver following Standard Webhooks must (the signature
// over id, timestamp and body with the shared secret, and a timestamp within
// the replay window) and records what it accepted.
package webhooktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ringchat/ringchat/notify/webhook"
)

// Delivery is one accepted request.
type Delivery struct {
	ID      string
	Payload webhook.Payload
	Body    []byte // as received, for payloads of other shapes (operator events)
	At      time.Time
}

// Answer is an injected reply.
type Answer struct {
	Status     int
	RetryAfter string
	Path       string // only for requests to this path; empty: the next request
}

// Injected is a request that got an injected answer.
type Injected struct {
	ID, Path string
	Status   int
}

// Server is the endpoint.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	secrets  map[string]string // path -> secret
	got      []Delivery
	refused  []string
	next     []Answer
	injected []Injected
	requests int
}

// New starts a server; Close it when done.
func New() *Server {
	s := &Server{secrets: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Expect makes path accept deliveries signed with secret.
func (s *Server) Expect(path, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[path] = secret
}

// Inject makes the next len(as) requests get these answers (after the checks).
func (s *Server) Inject(as ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = append(s.next, as...)
}

// Deliveries returns what was accepted so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.got...)
}

// InjectedAnswers lists the requests answered by Inject, in order.
func (s *Server) InjectedAnswers() []Injected {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Injected(nil), s.injected...)
}

// Refused lists why requests were refused.
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// Requests counts every request that reached the server.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	refuse := func(code int, why string) {
		s.refused = append(s.refused, why)
		http.Error(w, why, code)
	}
	secret, ok := s.secrets[r.URL.Path]
	switch {
	case err != nil:
		refuse(http.StatusBadRequest, "read body: "+err.Error())
		return
	case r.Method != http.MethodPost:
		refuse(http.StatusMethodNotAllowed, "method "+r.Method)
		return
	case !ok:
		refuse(http.StatusGone, "no endpoint at "+r.URL.Path)
		return
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		refuse(http.StatusInternalServerError, "secret: "+err.Error())
		return
	}
	// Verify checks the signature and the timestamp's 5-minute window.
	if err := wh.Verify(body, r.Header); err != nil {
		refuse(http.StatusUnauthorized, "verify: "+err.Error())
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Type == "" || r.Header.Get("Content-Type") != "application/json" {
		refuse(http.StatusBadRequest, "payload")
		return
	}
	for i, a := range s.next {
		if a.Path != "" && a.Path != r.URL.Path {
			continue
		}
		s.next = append(s.next[:i:i], s.next[i+1:]...)
		s.injected = append(s.injected, Injected{ID: r.Header.Get("webhook-id"), Path: r.URL.Path, Status: a.Status})
		if a.RetryAfter != "" {
			w.Header().Set("Retry-After", a.RetryAfter)
		}
		w.WriteHeader(a.Status)
		return
	}
	s.got = append(s.got, Delivery{ID: r.Header.Get("webhook-id"), Payload: p, Body: body, At: time.Now()})
	w.WriteHeader(http.StatusNoContent)
}
