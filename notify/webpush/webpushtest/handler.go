package webpushtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody is the largest message push services accept (RFC 8030 §7.2 lets
// them refuse more than 4096 bytes; all do).
const maxBody = 4096

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/push/")
	if !ok || id == "" || strings.Contains(id, "/") {
		s.reject(w, id, http.StatusNotFound, "no such resource")
		return
	}
	if r.Method != http.MethodPost {
		s.reject(w, id, http.StatusMethodNotAllowed, "want POST")
		return
	}
	// Authenticate before saying anything about the subscription.
	claims, key, err := verifyVAPID(r.Header.Get("Authorization"), s.origin, time.Now())
	if err != nil {
		s.reject(w, id, http.StatusUnauthorized, "vapid: "+err.Error())
		return
	}
	s.mu.Lock()
	sub, known := s.subs[id]
	required := s.requiredKey
	s.mu.Unlock()
	if required != nil && !bytes.Equal(key, required) {
		s.reject(w, id, http.StatusForbidden, "vapid: k is not the subscription's application server key")
		return
	}
	if !known {
		s.reject(w, id, http.StatusGone, "subscription expired or unsubscribed")
		return
	}
	push, status, reason := checkHeaders(r.Header)
	if status != 0 {
		s.reject(w, id, status, reason)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		s.reject(w, id, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if len(body) > maxBody {
		s.reject(w, id, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody))
		return
	}
	plaintext, err := decrypt(body, sub.priv, sub.auth)
	if err != nil {
		s.reject(w, id, http.StatusBadRequest, "aes128gcm: "+err.Error())
		return
	}
	push.SubscriptionID = id
	push.Plaintext = plaintext
	push.Subject, push.VAPIDKey, push.Expires = claims.sub, claims.key, claims.exp
	if a, ok := s.nextAnswer(); ok {
		s.answer(w, id, push, a)
		return
	}
	s.recordPush(push)
	w.Header().Set("Location", s.origin+"/message/"+randomID())
	w.WriteHeader(http.StatusCreated)
}

// answer writes an injected answer; a 2xx one still delivers the push.
func (s *Server) answer(w http.ResponseWriter, id string, p Push, a Answer) {
	if a.Status >= 200 && a.Status < 300 {
		s.recordPush(p)
	} else {
		s.mu.Lock()
		s.rejections = append(s.rejections, Rejection{SubscriptionID: id, Status: a.Status, Reason: "injected"})
		s.mu.Unlock()
	}
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	w.WriteHeader(a.Status)
	_, _ = io.WriteString(w, a.Body)
}

// checkHeaders checks the RFC 8030 and RFC 8291 headers; status is 0 when
// they are fine.
func checkHeaders(h http.Header) (p Push, status int, reason string) {
	if ce := h.Get("Content-Encoding"); !strings.EqualFold(ce, "aes128gcm") {
		return p, http.StatusBadRequest, fmt.Sprintf("Content-Encoding %q: want aes128gcm", ce)
	}
	ttl := h.Values("TTL")
	if len(ttl) != 1 {
		return p, http.StatusBadRequest, "want one TTL header"
	}
	n, err := strconv.ParseUint(strings.TrimSpace(ttl[0]), 10, 31)
	if err != nil {
		return p, http.StatusBadRequest, fmt.Sprintf("TTL %q: want delta-seconds", ttl[0])
	}
	p.TTL = int(n)
	p.Topic = h.Get("Topic")
	if _, present := h["Topic"]; present && !validTopic(p.Topic) {
		return p, http.StatusBadRequest, fmt.Sprintf("Topic %q: want 1 to 32 base64url characters", p.Topic)
	}
	p.Urgency = h.Get("Urgency")
	switch p.Urgency {
	case "", "very-low", "low", "normal", "high":
	default:
		return p, http.StatusBadRequest, fmt.Sprintf("Urgency %q: want very-low, low, normal or high", p.Urgency)
	}
	return p, 0, ""
}

// validTopic follows RFC 8030 §5.4.
func validTopic(t string) bool {
	if t == "" || len(t) > 32 {
		return false
	}
	for _, c := range []byte(t) {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}
