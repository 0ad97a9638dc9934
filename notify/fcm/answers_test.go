package fcm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/fcm"
	"github.com/ringchat/ringchat/notify/fcm/fcmtest"
)

func TestUnknownTokenGone(t *testing.T) {
	f := newFixture(t, nil)
	err := f.sender.Send(context.Background(), notify.Target{Token: "never-registered"}, sample())
	var apiErr *fcm.APIError
	if !errors.Is(err, notify.ErrGone) || !errors.As(err, &apiErr) ||
		apiErr.StatusCode != http.StatusNotFound || apiErr.ErrorCode != "UNREGISTERED" {
		t.Errorf("unknown token: err = %v, want ErrGone from a 404 UNREGISTERED", err)
	}

	if err := f.send(t, sample()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	f.srv.UnregisterToken(f.token) // the app was uninstalled
	if err := f.send(t, sample()); !errors.Is(err, notify.ErrGone) {
		t.Errorf("unregistered token: err = %v, want ErrGone", err)
	}
}

func TestSenderIDMismatchGone(t *testing.T) {
	f := newFixture(t, nil)
	other := f.srv.NewToken("another-project") // an app of another Firebase project
	err := f.sender.Send(context.Background(), notify.Target{Token: other}, sample())
	var apiErr *fcm.APIError
	if !errors.Is(err, notify.ErrGone) || !errors.As(err, &apiErr) || apiErr.ErrorCode != "SENDER_ID_MISMATCH" {
		t.Errorf("err = %v, want ErrGone from SENDER_ID_MISMATCH", err)
	}
}

func TestAnswersMapped(t *testing.T) {
	f := newFixture(t, nil)
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		name  string
		a     fcmtest.Answer
		class string
		after time.Duration // for "retry"
	}{
		{"400", fcmtest.Answer{Status: 400, ErrorCode: "INVALID_ARGUMENT"}, "permanent", 0},
		{"401", fcmtest.Answer{Status: 401}, "permanent", 0},
		{"third-party auth", fcmtest.Answer{Status: 401, ErrorCode: "THIRD_PARTY_AUTH_ERROR"}, "permanent", 0},
		{"403", fcmtest.Answer{Status: 403}, "permanent", 0},
		{"404 unregistered", fcmtest.Answer{Status: 404, ErrorCode: "UNREGISTERED"}, "gone", 0},
		{"sender id mismatch", fcmtest.Answer{Status: 403, ErrorCode: "SENDER_ID_MISMATCH"}, "gone", 0},
		{"429 with seconds", fcmtest.Answer{Status: 429, ErrorCode: "QUOTA_EXCEEDED", RetryAfter: "17"}, "retry", 17 * time.Second},
		{"429 without Retry-After", fcmtest.Answer{Status: 429, ErrorCode: "QUOTA_EXCEEDED"}, "retry", 60 * time.Second},
		{"429 with a date", fcmtest.Answer{Status: 429, ErrorCode: "QUOTA_EXCEEDED", RetryAfter: date}, "retry", 90 * time.Second},
		{"429 with junk", fcmtest.Answer{Status: 429, RetryAfter: "soon"}, "retry", 60 * time.Second},
		{"500", fcmtest.Answer{Status: 500, ErrorCode: "INTERNAL"}, "transient", 0},
		{"503", fcmtest.Answer{Status: 503, ErrorCode: "UNAVAILABLE"}, "transient", 0},
		{"503 with Retry-After", fcmtest.Answer{Status: 503, ErrorCode: "UNAVAILABLE", RetryAfter: "5"}, "retry", 5 * time.Second},
	} {
		f.srv.Inject(c.a)
		err := f.send(t, sample())
		if got := class(err); got != c.class {
			t.Errorf("%s: err = %v (%s), want %s", c.name, err, got, c.class)
			continue
		}
		var ra *notify.RetryAfterError
		if errors.As(err, &ra) && (ra.After > c.after || ra.After < c.after-3*time.Second) {
			t.Errorf("%s: after %s, want %s", c.name, ra.After, c.after)
		}
		var apiErr *fcm.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != c.a.Status || apiErr.ErrorCode != c.a.ErrorCode {
			t.Errorf("%s: err = %v, want an APIError with status %d and errorCode %q", c.name, err, c.a.Status, c.a.ErrorCode)
		}
	}
	if err := f.send(t, sample()); err != nil {
		t.Errorf("after the injected answers: %v", err)
	}
}

func TestTokenFetchedOnce(t *testing.T) {
	f := newFixture(t, nil)
	for range 30 {
		if err := f.send(t, sample()); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if got := f.srv.TokenRequests(); got != 1 {
		t.Errorf("%d token requests for 30 sends, want 1", got)
	}
}

func TestTokenRefreshedAfterExpiry(t *testing.T) {
	// Tokens last 4 s and are replaced 2 s early: usable for 2 s, with 2 s
	// to spare for a slow request.
	f := newFixture(t, func(c *fcm.Config) { c.TokenEarlyExpiry = 2 * time.Second })
	f.srv.SetTokenLifetime(4 * time.Second)
	start := time.Now()
	for range 10 {
		if err := f.send(t, sample()); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if got := f.srv.TokenRequests(); got != 1 && time.Since(start) < 2*time.Second {
		t.Fatalf("%d token requests for 10 sends within the token's life, want 1", got)
	}
	// Keep sending until the client replaces the token. The server refuses
	// expired tokens, so every send succeeding shows it did so in time.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for f.srv.TokenRequests() < 2 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no new token after %s", time.Since(start))
		}
		if err := f.send(t, sample()); err != nil {
			t.Fatalf("Send at %s: %v", time.Since(start), err)
		}
	}
}

func TestRevokedTokenReplaced(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.send(t, sample()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	f.srv.RevokeTokens()
	if err := f.send(t, sample()); class(err) != "permanent" {
		t.Fatalf("with a revoked token: err = %v, want a PermanentError", err)
	}
	if err := f.send(t, sample()); err != nil {
		t.Fatalf("after the 401: %v", err)
	}
	if got := f.srv.TokenRequests(); got != 2 {
		t.Errorf("%d token requests, want 2", got)
	}
}

func TestInvalidGrantPermanent(t *testing.T) {
	srv := fcmtest.NewServer(t)
	// The key file names the account but holds another key, as after the
	// account's key was deleted: Google answers invalid_grant.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	creds := withKey(t, srv.NewServiceAccount(project), map[string]any{
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"private_key_id": nil,
	})
	s, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: creds, Endpoint: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = s.Send(context.Background(), notify.Target{Token: srv.NewToken(project)}, sample())
	var refused *fcm.TokenRefusedError
	if class(err) != "permanent" || !errors.As(err, &refused) || refused.Code != "invalid_grant" {
		t.Errorf("err = %v, want a permanent invalid_grant", err)
	}
	if srv.TokenRequests() != 1 || srv.SendRequests() != 0 {
		t.Errorf("%d token, %d send requests; want 1 and 0", srv.TokenRequests(), srv.SendRequests())
	}
}

func TestTokenEndpointFailureTransient(t *testing.T) {
	srv := fcmtest.NewServer(t)
	creds := withKey(t, srv.NewServiceAccount(project), map[string]any{"token_uri": srv.URL() + "/no-such-endpoint"})
	s, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: creds, Endpoint: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = s.Send(context.Background(), notify.Target{Token: srv.NewToken(project)}, sample())
	var refused *fcm.TokenRefusedError
	if class(err) != "transient" || !errors.As(err, &refused) || refused.StatusCode != http.StatusNotFound {
		t.Errorf("err = %v, want a transient TokenRefusedError", err)
	}
}
