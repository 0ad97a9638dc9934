package fcm_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/fcm"
	"github.com/ringchat/ringchat/notify/fcm/fcmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const project = "ringchat-test"

// fixture is a local FCM, a Sender pointed at it, and a registered token.
type fixture struct {
	srv    *fcmtest.Server
	sender *fcm.Sender
	creds  []byte
	token  string
}

// newFixture makes a fixture; edit, when not nil, changes the Config first.
func newFixture(t *testing.T, edit func(*fcm.Config)) *fixture {
	t.Helper()
	srv := fcmtest.NewServer(t)
	creds := srv.NewServiceAccount(project)
	cfg := fcm.Config{CredentialsJSON: creds, Endpoint: srv.URL(), HTTPClient: srv.Client()}
	if edit != nil {
		edit(&cfg)
	}
	s, err := fcm.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &fixture{srv: srv, sender: s, creds: creds, token: srv.NewToken(project)}
}

func (f *fixture) send(t *testing.T, n notify.Notification) error {
	t.Helper()
	return f.sender.Send(context.Background(), notify.Target{Kind: notify.KindFCM, Token: f.token}, n)
}

func sample() notify.Notification {
	return notify.Notification{
		ID:             "ntf-1",
		UserID:         "u-1",
		DeviceID:       "d-1",
		ConversationID: "c-42",
		CollapseKey:    "conv-c-42",
		Event:          "mention",
		MessageID:      "m-9",
		Title:          "Alice in #general",
		Body:           "see you <at> 5 & bring snacks",
		Count:          3,
		Badge:          7,
		TTL:            90 * time.Minute,
		Sent:           time.Now(),
	}
}

// class names which of Send's kinds of error err is.
func class(err error) string {
	var ra *notify.RetryAfterError
	var pe *notify.PermanentError
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, notify.ErrGone):
		return "gone"
	case errors.As(err, &ra):
		return "retry"
	case errors.As(err, &pe):
		return "permanent"
	}
	return "transient"
}

// withKey returns the key file creds with its fields changed (nil deletes).
func withKey(t *testing.T, creds []byte, changes map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(creds, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keyField reads one field of a key file.
func keyField(t *testing.T, creds []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(creds, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[name].(string)
	return s
}
