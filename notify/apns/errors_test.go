package apns_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/apns"
	"github.com/ringchat/ringchat/notify/apns/apnstest"
)

// wantReason fails unless err names APNs' reason.
func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), reason) {
		t.Errorf("error %v does not say %q", err, reason)
	}
	var e *apns.Error
	if !errors.As(err, &e) || e.Reason != reason {
		t.Errorf("error %v carries no *apns.Error with reason %q", err, reason)
	}
}

func TestGone(t *testing.T) {
	f := setup(t)
	t.Run("unknown token", func(t *testing.T) {
		target := f.device(t)
		target.Token = strings.Repeat("ab", 32) // never registered
		err := f.sender.Send(t.Context(), target, notice("n1"))
		if !errors.Is(err, notify.ErrGone) {
			t.Fatalf("Send: %v, want ErrGone", err)
		}
		wantReason(t, err, apnstest.ReasonUnregistered)
		var e *apns.Error
		if errors.As(err, &e) && e.Timestamp.IsZero() {
			t.Error("410 without its timestamp")
		}
	})
	t.Run("removed", func(t *testing.T) {
		target := f.device(t)
		f.srv.RemoveDevice(target.Token)
		if err := f.sender.Send(t.Context(), target, notice("n1")); !errors.Is(err, notify.ErrGone) {
			t.Fatalf("Send: %v, want ErrGone", err)
		}
	})
	t.Run("not for topic", func(t *testing.T) {
		target := f.device(t)
		target.Topic = "com.ringchat.other"
		err := f.sender.Send(t.Context(), target, notice("n1"))
		if !errors.Is(err, notify.ErrGone) {
			t.Fatalf("Send: %v, want ErrGone", err)
		}
		wantReason(t, err, apnstest.ReasonDeviceTokenNotForTopic)
	})
	t.Run("bad device token", func(t *testing.T) {
		f.srv.Inject(1, apnstest.Answer{Status: 400, Reason: apnstest.ReasonBadDeviceToken})
		err := f.sender.Send(t.Context(), f.device(t), notice("n1"))
		if !errors.Is(err, notify.ErrGone) {
			t.Fatalf("Send: %v, want ErrGone", err)
		}
		wantReason(t, err, apnstest.ReasonBadDeviceToken)
	})
}

func TestProviderTokenRefused(t *testing.T) {
	f := setup(t)
	other, err := apnstest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]*apns.Sender{
		"unknown key id":   newSender(t, f.srv, other.KeyID, f.key.TeamID, f.key.P8),
		"wrong team":       newSender(t, f.srv, f.key.KeyID, other.TeamID, f.key.P8),
		"wrong key for id": newSender(t, f.srv, f.key.KeyID, f.key.TeamID, other.P8),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			err := s.Send(t.Context(), f.device(t), notice("n1"))
			var p *notify.PermanentError
			if !errors.As(err, &p) {
				t.Fatalf("Send: %v, want a PermanentError", err)
			}
			wantReason(t, err, apnstest.ReasonInvalidProviderToken)
		})
	}
	if n := len(f.srv.Accepted()); n != 0 {
		t.Fatalf("%d accepted with a bad provider token", n)
	}
}

func TestExpiredProviderTokenRefreshed(t *testing.T) {
	f := setup(t)
	target := f.device(t)
	f.srv.Inject(1, apnstest.Answer{Status: 403, Reason: apnstest.ReasonExpiredProviderToken})
	err := f.sender.Send(t.Context(), target, notice("n1"))
	if !transient(err) {
		t.Fatalf("Send: %v, want a transient error", err)
	}
	wantReason(t, err, apnstest.ReasonExpiredProviderToken)
	if err := f.sender.Send(t.Context(), target, notice("n1")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	reqs := f.srv.Requests()
	first, second := reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("Authorization")
	if first == second {
		t.Error("the retry carried the provider token APNs called expired")
	}
}

func TestRetryAfter(t *testing.T) {
	f := setup(t)
	cases := []struct {
		name   string
		answer apnstest.Answer
		after  time.Duration
	}{
		{"429", apnstest.Answer{Status: 429, Reason: apnstest.ReasonTooManyRequests}, apns.DefaultTooManyRequestsWait},
		{"429 with Retry-After", apnstest.Answer{Status: 429, Reason: apnstest.ReasonTooManyRequests, RetryAfter: "7"}, 7 * time.Second},
		{"503 with Retry-After", apnstest.Answer{Status: 503, Reason: apnstest.ReasonServiceUnavailable, RetryAfter: "30"}, 30 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.srv.Inject(1, c.answer)
			err := f.sender.Send(t.Context(), f.device(t), notice("n1"))
			var r *notify.RetryAfterError
			if !errors.As(err, &r) || r.After != c.after {
				t.Fatalf("Send: %v, want a RetryAfterError of %s", err, c.after)
			}
			wantReason(t, err, c.answer.Reason)
		})
	}
}

func TestTransientAndPermanent(t *testing.T) {
	f := setup(t)
	for _, a := range []apnstest.Answer{
		{Status: 500, Reason: apnstest.ReasonInternalServerError},
		{Status: 503, Reason: apnstest.ReasonServiceUnavailable},
	} {
		f.srv.Inject(1, a)
		err := f.sender.Send(t.Context(), f.device(t), notice("n1"))
		if !transient(err) {
			t.Errorf("%d: %v, want a transient error", a.Status, err)
		}
		wantReason(t, err, a.Reason)
	}
	for _, a := range []apnstest.Answer{
		{Status: 400, Reason: "BadTopic"},
		{Status: 403, Reason: "Forbidden"},
		{Status: 413, Reason: apnstest.ReasonPayloadTooLarge},
	} {
		f.srv.Inject(1, a)
		err := f.sender.Send(t.Context(), f.device(t), notice("n1"))
		var p *notify.PermanentError
		if !errors.As(err, &p) {
			t.Errorf("%d %s: %v, want a PermanentError", a.Status, a.Reason, err)
		}
		wantReason(t, err, a.Reason)
	}
}

func TestBadTargetBeforeNetwork(t *testing.T) {
	f := setup(t)
	good := f.device(t)
	edits := map[string]func(*notify.Target){
		"empty token":     func(t *notify.Target) { t.Token = "" },
		"short token":     func(t *notify.Target) { t.Token = t.Token[:62] },
		"odd length":      func(t *notify.Target) { t.Token += "a" },
		"not hex":         func(t *notify.Target) { t.Token = "zz" + t.Token[2:] },
		"too long":        func(t *notify.Target) { t.Token = strings.Repeat("ab", 101) },
		"path in token":   func(t *notify.Target) { t.Token = t.Token[:60] + "/../" },
		"no topic":        func(t *notify.Target) { t.Topic = "" },
		"topic with ctl":  func(t *notify.Target) { t.Topic = "com.app\r\nx: y" },
		"topic with /":    func(t *notify.Target) { t.Topic = "com/app" },
		"other kind":      func(t *notify.Target) { t.Kind = notify.KindFCM },
		"topic too large": func(t *notify.Target) { t.Topic = strings.Repeat("a", 256) },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			target := good
			edit(&target)
			err := f.sender.Send(t.Context(), target, notice("n1"))
			var p *notify.PermanentError
			if !errors.As(err, &p) {
				t.Fatalf("Send: %v, want a PermanentError", err)
			}
		})
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestConcurrentSends(t *testing.T) {
	f := setup(t)
	targets := []notify.Target{f.device(t), f.device(t), f.device(t)}
	const workers, each = 8, 10
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs <- f.sender.Send(t.Context(), targets[(w+i)%len(targets)], notice("n"))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.srv.Accepted()); n != workers*each {
		t.Fatalf("%d accepted, want %d", n, workers*each)
	}
}
