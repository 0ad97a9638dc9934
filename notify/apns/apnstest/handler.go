package apnstest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Apple's reason strings (Handling notification responses from APNs).
const (
	ReasonBadCollapseID          = "BadCollapseId"
	ReasonBadDeviceToken         = "BadDeviceToken"
	ReasonBadExpirationDate      = "BadExpirationDate"
	ReasonBadMessageID           = "BadMessageId"
	ReasonBadPriority            = "BadPriority"
	ReasonDeviceTokenNotForTopic = "DeviceTokenNotForTopic"
	ReasonDuplicateHeaders       = "DuplicateHeaders"
	ReasonInvalidPushType        = "InvalidPushType"
	ReasonMissingDeviceToken     = "MissingDeviceToken"
	ReasonMissingTopic           = "MissingTopic"
	ReasonPayloadEmpty           = "PayloadEmpty"
	ReasonExpiredProviderToken   = "ExpiredProviderToken"
	ReasonInvalidProviderToken   = "InvalidProviderToken"
	ReasonMissingProviderToken   = "MissingProviderToken"
	ReasonBadPath                = "BadPath"
	ReasonMethodNotAllowed       = "MethodNotAllowed"
	ReasonUnregistered           = "Unregistered"
	ReasonPayloadTooLarge        = "PayloadTooLarge"
	ReasonTooManyRequests        = "TooManyRequests"
	ReasonInternalServerError    = "InternalServerError"
	ReasonServiceUnavailable     = "ServiceUnavailable"
)

// Reasons this server uses where Apple documents none.
const (
	// ReasonBadPayload answers a body that is not a JSON object or whose aps
	// is not a dictionary (Apple's table has no string for malformed JSON).
	ReasonBadPayload = "BadPayload"
	// ReasonHTTP2Required answers an HTTP/1 request (Apple's ALPN offers h2
	// only, so a real client never gets that far).
	ReasonHTTP2Required = "HTTP2Required"
)

// MaxPayload is the largest body APNs takes for a remote notification.
const MaxPayload = 4096

const devicePath = "/3/device/"

// knownPushType says whether t is an apns-push-type value Apple knows.
func knownPushType(t string) bool {
	switch t {
	case "alert", "background", "location", "voip", "complication",
		"fileprovider", "mdm", "liveactivity", "pushtotalk", "widgets", "controls":
		return true
	}
	return false
}

// duplicated says whether a header Apple reads appears more than once (400
// DuplicateHeaders).
func duplicated(h http.Header) bool {
	for _, name := range [...]string{
		"Authorization", "Apns-Topic", "Apns-Push-Type", "Apns-Id",
		"Apns-Collapse-Id", "Apns-Priority", "Apns-Expiration",
	} {
		if len(h.Values(name)) > 1 {
			return true
		}
	}
	return false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	req := Request{Header: r.Header.Clone()}
	status, reason, since := s.check(r, &req, now)
	retryAfter := ""
	if status == http.StatusOK {
		if a, ok := s.nextAnswer(); ok {
			status, reason, retryAfter, since = a.Status, a.Reason, a.RetryAfter, now
		}
	}
	req.Status, req.Reason = status, reason
	req.ApnsID = req.ID
	if !canonicalUUID(req.ApnsID) {
		req.ApnsID = uuid.NewString() // APNs makes one when none (or a bad one) came
	}
	s.record(req)

	h := w.Header()
	h.Set("apns-id", req.ApnsID)
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	if status == http.StatusOK {
		w.WriteHeader(status)
		return
	}
	body := map[string]any{"reason": reason}
	if status == http.StatusGone {
		body["timestamp"] = since.UnixMilli()
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // a client gone away is its own problem
}

// check applies Apple's checks in Apple's order (the request itself, the
// provider token, the headers, the payload, then the device), filling req as
// it goes. since is when a 410's device token stopped being valid.
func (s *Server) check(r *http.Request, req *Request, now time.Time) (status int, reason string, since time.Time) {
	if r.ProtoMajor != 2 {
		return http.StatusHTTPVersionNotSupported, ReasonHTTP2Required, now
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, ReasonMethodNotAllowed, now
	}
	token, ok := strings.CutPrefix(r.URL.Path, devicePath)
	if !ok || strings.Contains(token, "/") {
		return http.StatusNotFound, ReasonBadPath, now
	}
	req.Token = token
	if token == "" {
		return http.StatusBadRequest, ReasonMissingDeviceToken, now
	}
	if !validToken(token) {
		return http.StatusBadRequest, ReasonBadDeviceToken, now
	}
	if duplicated(r.Header) {
		return http.StatusBadRequest, ReasonDuplicateHeaders, now
	}
	info, why := s.verifyToken(r.Header.Get("Authorization"), now)
	req.KeyID, req.TeamID, req.IssuedAt = info.keyID, info.teamID, info.issuedAt
	if why != "" {
		return http.StatusForbidden, why, now
	}
	if why := checkHeaders(r.Header, req); why != "" {
		return http.StatusBadRequest, why, now
	}
	if status, why := readPayload(r.Body, req); why != "" {
		return status, why, now
	}
	d, ok := s.device(token)
	switch {
	case !ok:
		return http.StatusGone, ReasonUnregistered, now
	case !d.removed.IsZero():
		return http.StatusGone, ReasonUnregistered, d.removed
	case d.topic != req.Topic:
		return http.StatusBadRequest, ReasonDeviceTokenNotForTopic, now
	}
	return http.StatusOK, "", now
}

// checkHeaders checks the apns-* headers and records them in req.
func checkHeaders(h http.Header, req *Request) string {
	req.Topic = h.Get("apns-topic")
	req.PushType = h.Get("apns-push-type")
	req.ID = h.Get("apns-id")
	req.CollapseID = h.Get("apns-collapse-id")
	req.Priority = h.Get("apns-priority")
	req.Expiration = h.Get("apns-expiration")
	switch {
	case req.Topic == "":
		return ReasonMissingTopic
	case !knownPushType(req.PushType):
		return ReasonInvalidPushType
	case req.ID != "" && !canonicalUUID(req.ID):
		return ReasonBadMessageID
	case len(req.CollapseID) > 64:
		return ReasonBadCollapseID
	}
	switch req.Priority {
	case "", "1", "5", "10":
	default:
		return ReasonBadPriority
	}
	if req.Expiration != "" {
		if n, err := strconv.ParseInt(req.Expiration, 10, 64); err != nil || n < 0 {
			return ReasonBadExpirationDate
		}
	}
	return ""
}

// readPayload reads at most one byte more than MaxPayload, so that an
// oversized body is told from a full one without reading all of it.
func readPayload(body io.Reader, req *Request) (int, string) {
	b, err := io.ReadAll(io.LimitReader(body, MaxPayload+1))
	if err != nil {
		return http.StatusBadRequest, ReasonBadPayload
	}
	req.Body = b
	if len(b) > MaxPayload {
		return http.StatusRequestEntityTooLarge, ReasonPayloadTooLarge
	}
	if strings.TrimSpace(string(b)) == "" {
		return http.StatusBadRequest, ReasonPayloadEmpty
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		return http.StatusBadRequest, ReasonBadPayload
	}
	req.Payload = p
	aps, ok := p["aps"]
	if !ok {
		return http.StatusBadRequest, ReasonPayloadEmpty
	}
	if _, ok := aps.(map[string]any); !ok {
		return http.StatusBadRequest, ReasonBadPayload
	}
	return http.StatusOK, ""
}

// validToken is Apple's device token shape: hex, whole bytes, 32 to 100 of them.
func validToken(t string) bool {
	if len(t) < 64 || len(t) > 200 || len(t)%2 != 0 {
		return false
	}
	for _, c := range []byte(t) {
		if !isHex(c) {
			return false
		}
	}
	return true
}

// canonicalUUID is the 8-4-4-4-12 hex form apns-id must take.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
