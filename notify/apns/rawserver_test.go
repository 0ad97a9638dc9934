package apns_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/apns"
	"github.com/ringchat/ringchat/notify/apns/apnstest"
)

// rawSender points a Sender at a bare HTTP/2 handler, for answers the APNs
// test server would never give.
func rawSender(t *testing.T, h http.HandlerFunc, timeout time.Duration) *apns.Sender {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	k, err := apnstest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	s, err := apns.New(apns.Config{KeyP8: k.P8, KeyID: k.KeyID, TeamID: k.TeamID, Endpoint: srv.URL, RootCAs: pool, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func target() notify.Target {
	return notify.Target{Kind: notify.KindAPNs, Token: strings.Repeat("0f", 32), Topic: topic}
}

func TestUndecodableAnswerKeepsStatus(t *testing.T) {
	s := rawSender(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusGone)
		_, _ = w.Write([]byte("<html>" + strings.Repeat("x", 1<<20))) // neither JSON nor short
	}, 0)
	if err := s.Send(t.Context(), target(), notice("n1")); !errors.Is(err, notify.ErrGone) {
		t.Fatalf("Send: %v, want ErrGone from the 410 status", err)
	}
}

func TestTimeout(t *testing.T) {
	s := rawSender(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answer only when the client gives up
	}, 200*time.Millisecond)
	err := s.Send(t.Context(), target(), notice("n1"))
	if !transient(err) {
		t.Fatalf("Send: %v, want a transient error", err)
	}
}
