package webpush_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/webpush"
	"github.com/ringchat/ringchat/notify/webpush/webpushtest"
)

const subject = "mailto:ops@ringchat.test"

// newSender makes a Sender for srv, with srv requiring its VAPID key.
func newSender(t *testing.T, srv *webpushtest.Server, edit func(*webpush.Config)) *webpush.Sender {
	t.Helper()
	pub, priv, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	cfg := webpush.Config{
		VAPIDPublicKey:        pub,
		VAPIDPrivateKey:       priv,
		Subject:               subject,
		HTTPClient:            srv.Client(),
		AllowPrivateEndpoints: true, // the test server listens on 127.0.0.1
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := webpush.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv.RequireKey(s.PublicKey())
	return s
}

func notice() notify.Notification {
	return notify.Notification{
		ID:             "n-1",
		UserID:         "u-1",
		DeviceID:       "d-1",
		ConversationID: "c-42",
		CollapseKey:    "conv:c-42",
		Event:          "message",
		MessageID:      "m-7",
		Title:          "Ada <ada@example.com>",
		Body:           "Tea & biscuits at 5? 🍪",
		Count:          3,
		Badge:          11,
		TTL:            5 * time.Minute,
	}
}

func decodePayload(t *testing.T, b []byte) webpush.Payload {
	t.Helper()
	var p webpush.Payload
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("plaintext is not JSON: %v: %q", err, b)
	}
	return p
}

// onlyPush returns the server's single accepted push.
func onlyPush(t *testing.T, srv *webpushtest.Server) webpushtest.Push {
	t.Helper()
	pushes := srv.Pushes()
	if len(pushes) != 1 {
		t.Fatalf("server accepted %d pushes, want 1 (rejections: %+v)", len(pushes), srv.Rejections())
	}
	return pushes[0]
}

// assertNoRequest checks that nothing reached the server.
func assertNoRequest(t *testing.T, srv *webpushtest.Server) {
	t.Helper()
	if p, r := srv.Pushes(), srv.Rejections(); len(p)+len(r) != 0 {
		t.Fatalf("server saw %d pushes and %d rejections, want no request", len(p), len(r))
	}
}

func asPermanent(t *testing.T, err error) *notify.PermanentError {
	t.Helper()
	var pe *notify.PermanentError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *notify.PermanentError", err, err)
	}
	return pe
}
