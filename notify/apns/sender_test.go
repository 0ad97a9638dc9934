package apns_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/apns"
	"github.com/ringchat/ringchat/notify/apns/apnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const topic = "com.ringchat.app"

type fixture struct {
	srv    *apnstest.Server
	key    apnstest.Key
	sender *apns.Sender
}

// setup starts a server with a registered key and a Sender pointed at it.
func setup(t *testing.T) fixture {
	t.Helper()
	srv := apnstest.NewServer(t)
	k := srv.NewKey(t)
	return fixture{srv: srv, key: k, sender: newSender(t, srv, k.KeyID, k.TeamID, k.P8)}
}

func newSender(t *testing.T, srv *apnstest.Server, keyID, teamID string, p8 []byte) *apns.Sender {
	t.Helper()
	s, err := apns.New(apns.Config{KeyP8: p8, KeyID: keyID, TeamID: teamID, Endpoint: srv.URL(), RootCAs: srv.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// device registers a fresh device token for topic.
func (f fixture) device(t *testing.T) notify.Target {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	tok := hex.EncodeToString(b)
	f.srv.AddDevice(tok, topic)
	return notify.Target{Kind: notify.KindAPNs, Token: tok, Topic: topic}
}

func notice(id string) notify.Notification {
	return notify.Notification{
		ID: id, UserID: "u1", DeviceID: "d1", ConversationID: "c1", CollapseKey: "conv:c1",
		Event: "mention", MessageID: "m9", Title: "Team chat", Body: "Ana: see you at 5",
		Count: 3, Badge: 7, TTL: time.Hour,
	}
}

// transient says err is none of notify's classified errors.
func transient(err error) bool {
	var p *notify.PermanentError
	var r *notify.RetryAfterError
	return err != nil && !errors.Is(err, notify.ErrGone) && !errors.As(err, &p) && !errors.As(err, &r)
}

func TestSendDelivers(t *testing.T) {
	f := setup(t)
	target := f.device(t)
	n := notice("burst-1")
	before := time.Now()
	if err := f.sender.Send(t.Context(), target, n); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	acc := f.srv.Accepted()
	if len(acc) != 1 {
		t.Fatalf("%d accepted, want 1", len(acc))
	}
	r := acc[0]
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("token", r.Token, target.Token)
	check("apns-topic", r.Topic, topic)
	check("apns-push-type", r.PushType, "alert")
	check("apns-priority", r.Priority, "10")
	check("apns-collapse-id", r.CollapseID, "conv:c1")
	check("key id", r.KeyID, f.key.KeyID)
	check("team id", r.TeamID, f.key.TeamID)
	if len(r.ID) != 36 || r.ID != r.ApnsID {
		t.Errorf("apns-id %q (answered %q), want a UUID", r.ID, r.ApnsID)
	}
	exp, err := strconv.ParseInt(r.Expiration, 10, 64)
	if err != nil || exp < before.Add(time.Hour).Unix() || exp > after.Add(time.Hour).Unix()+1 {
		t.Errorf("apns-expiration %q, want now+1h", r.Expiration)
	}

	aps, _ := r.Payload["aps"].(map[string]any)
	alert, _ := aps["alert"].(map[string]any)
	check("aps.alert.title", str(alert["title"]), n.Title)
	check("aps.alert.body", str(alert["body"]), n.Body)
	check("aps.sound", str(aps["sound"]), "default")
	check("aps.thread-id", str(aps["thread-id"]), "conv:c1")
	check("conversation_id", str(r.Payload["conversation_id"]), "c1")
	check("message_id", str(r.Payload["message_id"]), "m9")
	check("event", str(r.Payload["event"]), "mention")
	if aps["badge"] != 7.0 || r.Payload["count"] != 3.0 {
		t.Errorf("badge %v, count %v, want 7 and 3", aps["badge"], r.Payload["count"])
	}
}

func str(v any) string { s, _ := v.(string); return s }

func TestSandboxEndpoint(t *testing.T) {
	f := setup(t)
	sandbox := apnstest.NewServer(t)
	sandbox.AddKey(f.key)
	s, err := apns.New(apns.Config{
		KeyP8: f.key.P8, KeyID: f.key.KeyID, TeamID: f.key.TeamID,
		Endpoint: f.srv.URL(), SandboxEndpoint: sandbox.URL(), RootCAs: f.srv.CAPool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	target := f.device(t)
	target.Sandbox = true
	sandbox.AddDevice(target.Token, topic)
	if err := s.Send(t.Context(), target, notice("n1")); err != nil {
		t.Fatal(err)
	}
	if len(sandbox.Accepted()) != 1 || len(f.srv.Requests()) != 0 {
		t.Fatalf("sandbox got %d, production %d; want 1 and 0", len(sandbox.Accepted()), len(f.srv.Requests()))
	}
}

func TestApnsIDStable(t *testing.T) {
	f := setup(t)
	target := f.device(t)
	for _, id := range []string{"burst-1", "burst-1", "burst-2"} {
		if err := f.sender.Send(t.Context(), target, notice(id)); err != nil {
			t.Fatal(err)
		}
	}
	acc := f.srv.Accepted()
	if acc[0].ID != acc[1].ID {
		t.Errorf("same Notification.ID, apns-ids %q and %q", acc[0].ID, acc[1].ID)
	}
	if acc[0].ID == acc[2].ID {
		t.Errorf("different Notification.IDs, same apns-id %q", acc[0].ID)
	}
}

func TestExpirationAndCollapseID(t *testing.T) {
	f := setup(t)
	target := f.device(t)
	n := notice("n1")
	n.TTL = 0
	n.CollapseKey = strings.Repeat("k", 100)
	if err := f.sender.Send(t.Context(), target, n); err != nil {
		t.Fatal(err)
	}
	n.CollapseKey = strings.Repeat("k", 99) + "j"
	if err := f.sender.Send(t.Context(), target, n); err != nil {
		t.Fatal(err)
	}
	acc := f.srv.Accepted()
	if acc[0].Expiration != "0" {
		t.Errorf("TTL 0 gave apns-expiration %q, want \"0\"", acc[0].Expiration)
	}
	c0, c1 := acc[0].CollapseID, acc[1].CollapseID
	if len(c0) > 64 || c0 == "" || c0 == c1 {
		t.Errorf("collapse ids %q and %q: want distinct, at most 64 bytes", c0, c1)
	}
	aps, _ := acc[0].Payload["aps"].(map[string]any)
	if str(aps["thread-id"]) != strings.Repeat("k", 100) {
		t.Errorf("thread-id %q, want the whole collapse key", aps["thread-id"])
	}
}

func TestConfigErrors(t *testing.T) {
	k, err := apnstest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := apns.Config{KeyP8: k.P8, KeyID: k.KeyID, TeamID: k.TeamID}
	cases := []struct {
		name string
		edit func(*apns.Config)
		want string
	}{
		{"no key", func(c *apns.Config) { c.KeyP8 = nil }, "KeyP8 is empty"},
		{"not pem", func(c *apns.Config) { c.KeyP8 = []byte("hello") }, "KeyP8 is not"},
		{"bad der", func(c *apns.Config) {
			c.KeyP8 = []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		}, "KeyP8 is not"},
		{"no key id", func(c *apns.Config) { c.KeyID = "" }, "KeyID is required"},
		{"no team id", func(c *apns.Config) { c.TeamID = "" }, "TeamID is required"},
		{"key id with space", func(c *apns.Config) { c.KeyID = "AB CD" }, "KeyID"},
		{"http endpoint", func(c *apns.Config) { c.Endpoint = "http://localhost" }, "Endpoint"},
		{"endpoint path", func(c *apns.Config) { c.SandboxEndpoint = "https://h/3/device" }, "SandboxEndpoint"},
		{"negative timeout", func(c *apns.Config) { c.Timeout = -time.Second }, "Timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			_, err := apns.New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), string(k.P8[30:60])) {
				t.Fatalf("error shows the key: %v", err)
			}
		})
	}
	s, err := apns.New(good)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Kind() != notify.KindAPNs {
		t.Errorf("Kind %q", s.Kind())
	}
}

func TestContextCanceled(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := f.sender.Send(ctx, f.device(t), notice("n1"))
	if !transient(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a canceled context: %v, want a transient context.Canceled", err)
	}
}
