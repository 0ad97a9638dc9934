package hook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/hook"
	"github.com/ringchat/ringchat/notify"
)

const eventsSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestEventsRefusesBadConfiguration(t *testing.T) {
	for _, c := range []struct{ url, secret string }{
		{"ftp://example.com/x", eventsSecret}, {"http://", eventsSecret}, {"not a url", eventsSecret},
		{"https://example.com/x", "plain"}, {"https://example.com/x", ""},
	} {
		if _, err := hook.NewEvents(c.url, c.secret); err == nil {
			t.Errorf("NewEvents(%q, %q) accepted", c.url, c.secret)
		}
	}
}

// Each delivery is signed over its body with a stable id; the answer is
// classified as the notifier needs it.
func TestEventsPostIsSignedAndClassified(t *testing.T) {
	wh, err := standardwebhooks.NewWebhook(eventsSecret)
	if err != nil {
		t.Fatal(err)
	}
	status := http.StatusNoContent
	var got struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	var id string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		id = r.Header.Get("webhook-id")
		_ = json.Unmarshal(body, &got)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	ev, err := hook.NewEvents(srv.URL+"/ev", eventsSecret)
	if err != nil {
		t.Fatal(err)
	}
	post := func() error {
		return ev.Post(context.Background(), chat.OperatorEvent{ID: "msg_42", Type: chat.EventMessageCreated, Data: map[string]any{"k": "v"}})
	}
	if err := post(); err != nil || id != "msg_42" || got.Type != "message.created" || got.Data["k"] != "v" {
		t.Fatalf("post: %v, id %q, body %+v", err, id, got)
	}
	var ra *notify.RetryAfterError
	var perm *notify.PermanentError
	status = http.StatusServiceUnavailable
	if err := post(); !errors.As(err, &ra) || ra.After.Seconds() != 7 {
		t.Errorf("503 Retry-After 7: %v", err)
	}
	status = http.StatusBadRequest
	if err := post(); !errors.As(err, &perm) {
		t.Errorf("400: %v, want a refusal", err)
	}
	status = http.StatusBadGateway
	if err := post(); err == nil || errors.As(err, &perm) || errors.As(err, &ra) {
		t.Errorf("502: %v, want a transient failure", err)
	}
	for _, code := range []int{http.StatusTooManyRequests} {
		status = code
		if err := post(); !errors.As(err, &ra) {
			t.Errorf("%d: %v, want a wait", code, err)
		}
	}
	for _, code := range []int{http.StatusRequestTimeout, http.StatusInternalServerError} {
		status = code
		if err := post(); err == nil || errors.As(err, &perm) || errors.As(err, &ra) {
			t.Errorf("%d: %v, want a transient failure", code, err)
		}
	}
	for _, code := range []int{http.StatusFound, http.StatusUnauthorized, http.StatusNotFound, http.StatusRequestEntityTooLarge} {
		status = code
		if err := post(); !errors.As(err, &perm) {
			t.Errorf("%d: %v, want a refusal (a redirect is not followed)", code, err)
		}
	}
	status = http.StatusGone
	if err := post(); !errors.Is(err, notify.ErrGone) {
		t.Errorf("410: %v, want ErrGone (which the notifier dead-letters for an event)", err)
	}
}
