package webpush_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/webpush"
	"github.com/ringchat/ringchat/notify/webpush/webpushtest"
)

// kind names the class of a Send error, as the notify dispatcher sees it.
func kind(err error) string {
	var ra *notify.RetryAfterError
	var pe *notify.PermanentError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, notify.ErrGone):
		return "gone"
	case errors.As(err, &ra):
		return "retry-after"
	case errors.As(err, &pe):
		return "permanent"
	default:
		return "transient"
	}
}

func TestAnswerMapping(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name  string
		ans   webpushtest.Answer
		want  string
		after time.Duration // for retry-after; 0 means check against approx
	}{
		{"200", webpushtest.Answer{Status: 200}, "ok", 0},
		{"202", webpushtest.Answer{Status: 202}, "ok", 0},
		{"404", webpushtest.Answer{Status: 404}, "gone", 0},
		{"410", webpushtest.Answer{Status: 410}, "gone", 0},
		{"429 seconds", webpushtest.Answer{Status: 429, RetryAfter: "7"}, "retry-after", 7 * time.Second},
		{"429 absent", webpushtest.Answer{Status: 429}, "retry-after", webpush.DefaultRetryAfter},
		{"429 garbage", webpushtest.Answer{Status: 429, RetryAfter: "soon"}, "retry-after", webpush.DefaultRetryAfter},
		{"429 huge", webpushtest.Answer{Status: 429, RetryAfter: "99999999999999999999999"}, "retry-after", webpush.MaxRetryAfter},
		{"400", webpushtest.Answer{Status: 400, Body: "bad"}, "permanent", 0},
		{"401", webpushtest.Answer{Status: 401}, "permanent", 0},
		{"403", webpushtest.Answer{Status: 403}, "permanent", 0},
		{"413", webpushtest.Answer{Status: 413, Body: "payload too large"}, "permanent", 0},
		{"301 not followed", webpushtest.Answer{Status: 301}, "permanent", 0},
		{"500", webpushtest.Answer{Status: 500}, "transient", 0},
		{"503", webpushtest.Answer{Status: 503}, "transient", 0},
		{"503 retry-after", webpushtest.Answer{Status: 503, RetryAfter: "3"}, "retry-after", 3 * time.Second},
		{"408", webpushtest.Answer{Status: 408}, "transient", 0},
	}
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv.Inject(c.ans)
			err := s.Send(t.Context(), sub.Target(), notice())
			if got := kind(err); got != c.want {
				t.Fatalf("err = %v: %s, want %s", err, got, c.want)
			}
			var ra *notify.RetryAfterError
			if errors.As(err, &ra) && ra.After != c.after {
				t.Errorf("After = %s, want %s", ra.After, c.after)
			}
			var se *webpush.StatusError
			if err != nil && (!errors.As(err, &se) || se.Code != c.ans.Status || se.Body != c.ans.Body) {
				t.Errorf("err %v does not carry StatusError{%d, %q}", err, c.ans.Status, c.ans.Body)
			}
			if err != nil && !strings.Contains(err.Error(), http.StatusText(c.ans.Status)) {
				t.Errorf("err %q lacks the status", err)
			}
		})
	}

	t.Run("429 HTTP-date", func(t *testing.T) {
		srv.Inject(webpushtest.Answer{Status: 429, RetryAfter: httpDate})
		var ra *notify.RetryAfterError
		if err := s.Send(t.Context(), sub.Target(), notice()); !errors.As(err, &ra) || ra.After < 80*time.Second || ra.After > 90*time.Second {
			t.Fatalf("err = %v, want RetryAfterError of about 90s", err)
		}
	})
	t.Run("bounded excerpt", func(t *testing.T) {
		srv.Inject(webpushtest.Answer{Status: 400, Body: strings.Repeat("é", 100_000)})
		err := s.Send(t.Context(), sub.Target(), notice())
		pe := asPermanent(t, err)
		if n := len(pe.Error()); n > 2000 {
			t.Errorf("error of %d bytes: excerpt not bounded", n)
		}
	})
	// The injected answers replaced deliveries; the 2xx ones still delivered.
	if got := len(srv.Pushes()); got != 2 {
		t.Errorf("%d pushes recorded, want the 2 from 200 and 202", got)
	}
}

func TestRemovedSubscriptionGone(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	srv.Remove(sub.ID)
	if err := s.Send(t.Context(), sub.Target(), notice()); !errors.Is(err, notify.ErrGone) {
		t.Fatalf("err = %v, want ErrGone", err)
	}
	unknown := sub
	unknown.Endpoint = srv.URL() + "/push/no-such-id"
	if err := s.Send(t.Context(), unknown.Target(), notice()); !errors.Is(err, notify.ErrGone) {
		t.Fatalf("unknown id: err = %v, want ErrGone", err)
	}
}

func TestWrongApplicationServerKeyRefused(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	other := newSender(t, webpushtest.New(t), nil) // srv still requires s's key
	sub := srv.NewSubscription()
	err := other.Send(t.Context(), sub.Target(), notice())
	var se *webpush.StatusError
	if asPermanent(t, err); !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Fatalf("err = %v, want 403", err)
	}
	if err := s.Send(t.Context(), sub.Target(), notice()); err != nil {
		t.Fatalf("right key: %v", err)
	}
}

func TestTransportFailureIsTransient(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	srv.Close()
	err := s.Send(t.Context(), sub.Target(), notice())
	if kind(err) != "transient" {
		t.Fatalf("err = %v: %s, want transient", err, kind(err))
	}
	if strings.Contains(err.Error(), sub.ID) {
		t.Errorf("error %q leaks the endpoint path", err)
	}
}
