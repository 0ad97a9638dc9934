package fcmtest

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

const fcmErrorType = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

// maxRequest bounds a send request's body; the payload limit is far lower.
const maxRequest = 1 << 20

// handleSend is POST /v1/projects/{project}/messages:send.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	s.mu.Lock()
	s.sendRequests++
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		writeFCMError(w, Answer{Status: http.StatusMethodNotAllowed, Message: "messages:send takes POST"}, "")
		return
	}
	if status, msg := s.authorize(r.Header.Get("Authorization"), project, time.Now()); status != 0 {
		writeFCMError(w, Answer{Status: status, Message: msg}, "")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeFCMError(w, Answer{Status: http.StatusBadRequest, ErrorCode: "INVALID_ARGUMENT",
			Message: "Invalid JSON payload received: Content-Type must be application/json"}, "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		writeFCMError(w, Answer{Status: http.StatusBadRequest, ErrorCode: "INVALID_ARGUMENT",
			Message: "Request payload could not be read: " + err.Error()}, "")
		return
	}
	m, validateOnly, err := parseSendRequest(body)
	if err != nil {
		var v *violation
		if !errors.As(err, &v) {
			v = &violation{desc: err.Error()}
		}
		writeFCMError(w, Answer{Status: http.StatusBadRequest, ErrorCode: "INVALID_ARGUMENT", Message: v.Error()}, v.field)
		return
	}

	if a, refused := s.deliver(project, m, validateOnly); refused {
		writeFCMError(w, a, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": m.Name})
}

// deliver gives the next injected answer, or refuses a token the project
// cannot reach, or names and records m.
func (s *Server) deliver(project string, m *Message, validateOnly bool) (Answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.answers) > 0 {
		a := s.answers[0]
		s.answers = s.answers[1:]
		return a, true
	}
	if m.Token != "" {
		switch owner, ok := s.devices[m.Token]; {
		case !ok:
			return Answer{Status: http.StatusNotFound, ErrorCode: "UNREGISTERED", Message: "Requested entity was not found."}, true
		case owner != project:
			return Answer{Status: http.StatusForbidden, ErrorCode: "SENDER_ID_MISMATCH", Message: "SenderId mismatch"}, true
		}
	}
	s.nextID++
	m.Project = project
	if validateOnly {
		m.Name = fmt.Sprintf("projects/%s/messages/fake_message_id", project)
		return Answer{}, false
	}
	m.Name = fmt.Sprintf("projects/%s/messages/0:%d%%fcmtest", project, s.nextID)
	s.record(*m)
	return Answer{}, false
}

// authorize checks the bearer token: 0 when it may send to project, else the
// HTTP status and message FCM would answer.
func (s *Server) authorize(header, project string, now time.Time) (int, string) {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	s.mu.Lock()
	at, issued := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !ok || !issued:
		return http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
	case !now.Before(at.expires):
		return http.StatusUnauthorized, "Request had invalid authentication credentials: the access token has expired."
	case at.project != project:
		return http.StatusForbidden, fmt.Sprintf("Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/%s' (or it may not exist).", project)
	}
	return 0, ""
}

// writeFCMError writes FCM's error shape: a google.rpc.Status with an FcmError
// detail when there is an errorCode, and a BadRequest one naming field.
func writeFCMError(w http.ResponseWriter, a Answer, field string) {
	status := statusName(a.Status)
	msg := a.Message
	if msg == "" {
		msg = "fcmtest: injected " + status
	}
	var details []map[string]any
	if a.ErrorCode != "" {
		details = append(details, map[string]any{"@type": fcmErrorType, "errorCode": a.ErrorCode})
	}
	if field != "" {
		details = append(details, map[string]any{
			"@type":           "type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations": []map[string]string{{"field": field, "description": msg}},
		})
	}
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	e := map[string]any{"code": a.Status, "message": msg, "status": status}
	if details != nil {
		e["details"] = details
	}
	writeJSON(w, a.Status, map[string]any{"error": e})
}

// statusName is the google.rpc.Code Google's frontends give an HTTP status.
func statusName(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		return "UNIMPLEMENTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusInternalServerError:
		return "INTERNAL"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "UNKNOWN"
}
