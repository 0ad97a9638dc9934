package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/webhook"
	"github.com/ringchat/ringchat/notify/webhook/webhooktest"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func send(t *testing.T, s *webhook.Sender, url, sec string) error {
	t.Helper()
	return s.Send(context.Background(), notify.Target{Kind: notify.KindWebhook, Endpoint: url, Secret: sec},
		notify.Notification{ID: "n1", ConversationID: "7", MessageID: "9", Event: "message", Title: "Ann", Body: "hi", Count: 2, Badge: 3})
}

func TestSignedDeliveryAndAnswers(t *testing.T) {
	srv := webhooktest.New()
	defer srv.Close()
	srv.Expect("/hook", secret)
	s := webhook.New(webhook.Config{AllowPrivate: true})
	if err := send(t, s, srv.URL+"/hook", secret); err != nil {
		t.Fatal(err)
	}
	got := srv.Deliveries()
	if len(got) != 1 || got[0].ID != "n1" || got[0].Payload.Data.Body != "hi" || got[0].Payload.Data.Count != 2 {
		t.Fatalf("deliveries %+v, refused %v", got, srv.Refused())
	}
	// A wrong secret is refused by the receiver's check: the signature means something.
	if err := send(t, s, srv.URL+"/hook", "whsec_"+"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="); err == nil {
		t.Fatal("a delivery signed with another secret was accepted")
	}
	srv.Inject(webhooktest.Answer{Status: 429, RetryAfter: "7"}, webhooktest.Answer{Status: 500}, webhooktest.Answer{Status: 400})
	var ra *notify.RetryAfterError
	if err := send(t, s, srv.URL+"/hook", secret); !errors.As(err, &ra) || ra.After != 7*time.Second {
		t.Fatalf("429: %v", err)
	}
	var perm *notify.PermanentError
	if err := send(t, s, srv.URL+"/hook", secret); err == nil || errors.As(err, &perm) || errors.As(err, &ra) {
		t.Fatalf("500 should be transient: %v", err)
	}
	if err := send(t, s, srv.URL+"/hook", secret); !errors.As(err, &perm) {
		t.Fatalf("400 should be permanent: %v", err)
	}
	if err := send(t, s, srv.URL+"/gone", secret); !errors.Is(err, notify.ErrGone) {
		t.Fatalf("410 should be gone: %v", err)
	}
}

func TestPrivateAddressesRefusedByDefault(t *testing.T) {
	srv := webhooktest.New()
	defer srv.Close()
	srv.Expect("/hook", secret)
	err := send(t, webhook.New(webhook.Config{}), srv.URL+"/hook", secret)
	var perm *notify.PermanentError
	if !errors.As(err, &perm) || srv.Requests() != 0 {
		t.Fatalf("a loopback URL was called (%d requests): %v", srv.Requests(), err)
	}
}

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{"": time.Second, "12": 12 * time.Second, "-3": 0, "soon": time.Second,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second} {
		if got := webhook.RetryAfter(h, now, time.Second); got != want {
			t.Errorf("Retry-After %q: %v, want %v", h, got, want)
		}
	}
}
