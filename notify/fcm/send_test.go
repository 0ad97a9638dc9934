package fcm_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/fcm"
)

func TestKind(t *testing.T) {
	f := newFixture(t, nil)
	if k := f.sender.Kind(); k != notify.KindFCM {
		t.Fatalf("Kind = %q", k)
	}
}

func TestSendDelivers(t *testing.T) {
	f := newFixture(t, nil)
	n := sample()
	if err := f.send(t, n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := f.srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	eq := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	eq("project", m.Project, project)
	eq("token", m.Token, f.token)
	eq("topic", m.Topic+m.Condition, "")
	if m.Notification == nil {
		t.Fatal("no notification")
	}
	eq("notification.title", m.Notification.Title, n.Title)
	eq("notification.body", m.Notification.Body, n.Body) // short: unchanged, < and & unescaped fit too
	wantData := map[string]string{
		"conversation_id": "c-42", "message_id": "m-9", "count": "3", "badge": "7", "event": "mention", "id": "ntf-1",
	}
	if len(m.Data) != len(wantData) {
		t.Errorf("data = %v, want %v", m.Data, wantData)
	}
	for k, v := range wantData {
		eq("data."+k, m.Data[k], v)
	}
	if m.Android == nil || m.Android.Notification == nil {
		t.Fatalf("android = %+v", m.Android)
	}
	eq("android.collapse_key", m.Android.CollapseKey, n.CollapseKey)
	eq("android.ttl", m.Android.TTL, "5400s")
	eq("android.priority", m.Android.Priority, "HIGH")
	eq("android.notification.tag", m.Android.Notification.Tag, n.CollapseKey)
	if c := m.Android.Notification.NotificationCount; c == nil || *c != 3 {
		t.Errorf("android.notification.notification_count = %v, want 3", c)
	}
	if m.APNs == nil || m.APNs.Aps == nil {
		t.Fatalf("apns = %+v", m.APNs)
	}
	eq("apns-collapse-id", m.APNs.Headers["apns-collapse-id"], n.CollapseKey)
	exp, err := strconv.ParseInt(m.APNs.Headers["apns-expiration"], 10, 64)
	if want := time.Now().Add(n.TTL).Unix(); err != nil || exp < want-60 || exp > want {
		t.Errorf("apns-expiration = %q, want about %d", m.APNs.Headers["apns-expiration"], want)
	}
	if b := m.APNs.Aps.Badge; b == nil || *b != 7 {
		t.Errorf("aps.badge = %v, want 7", b)
	}
	eq("aps.thread-id", m.APNs.Aps.ThreadID, n.CollapseKey)
}

func TestSendZeroBadgeAndNoTTL(t *testing.T) {
	f := newFixture(t, nil)
	n := sample()
	n.Badge, n.TTL, n.CollapseKey = 0, 0, ""
	if err := f.send(t, n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := f.srv.Messages()[0]
	if b := m.APNs.Aps.Badge; b == nil || *b != 0 {
		t.Errorf("aps.badge = %v, want an explicit 0 (it clears the badge)", b)
	}
	if m.Android.TTL != "" || m.Android.CollapseKey != "" || len(m.APNs.Headers) != 0 {
		t.Errorf("android = %+v, apns headers = %v: want FCM's defaults", m.Android, m.APNs.Headers)
	}
}

func TestLongCollapseKeyHashedForAPNs(t *testing.T) {
	f := newFixture(t, nil)
	n := sample()
	n.CollapseKey = strings.Repeat("k", 100)
	for range 2 {
		if err := f.send(t, n); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	msgs := f.srv.Messages()
	id := msgs[0].APNs.Headers["apns-collapse-id"]
	if len(id) != 64 || id != msgs[1].APNs.Headers["apns-collapse-id"] {
		t.Errorf("apns-collapse-id %q (%d bytes) is not a stable 64-byte hash", id, len(id))
	}
	if msgs[0].Android.CollapseKey != n.CollapseKey {
		t.Errorf("android.collapse_key = %q, want it whole", msgs[0].Android.CollapseKey)
	}
}

func TestLongBodyShortened(t *testing.T) {
	f := newFixture(t, nil)
	n := sample()
	n.Body = strings.Repeat("héllo wörld 🎉 ", 1000)
	if err := f.send(t, n); err != nil {
		t.Fatalf("Send: %v", err) // the server refuses payloads over 4096 bytes
	}
	body := f.srv.Messages()[0].Notification.Body
	kept, cut := strings.CutSuffix(body, "…")
	switch {
	case !utf8.ValidString(body):
		t.Errorf("body is not valid UTF-8: %q", body)
	case !cut || !strings.HasPrefix(n.Body, kept):
		t.Errorf("body %q is not a prefix of the original with an ellipsis", body)
	case len(kept) < 3000:
		t.Errorf("body kept only %d bytes of the 4096 allowed", len(kept))
	}
}

func TestLongTitleAndBodyShortened(t *testing.T) {
	f := newFixture(t, nil)
	n := sample()
	n.Title, n.Body = strings.Repeat("т", 5000), strings.Repeat("b", 5000)
	if err := f.send(t, n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := f.srv.Messages()[0].Notification
	if got.Body != "" || !strings.HasSuffix(got.Title, "…") || !utf8.ValidString(got.Title) {
		t.Errorf("title %q…, body %q: want the body dropped and the title cut", got.Title[:20], got.Body)
	}
}

func TestBadTokenRejectedBeforeNetwork(t *testing.T) {
	f := newFixture(t, nil)
	for name, tok := range map[string]string{
		"empty":      "",
		"space":      "abc def",
		"newline":    "abc\ndef",
		"nul":        "abc\x00def",
		"nbsp":       "abc\u00a0def",
		"too long":   strings.Repeat("a", 4097),
		"bad UTF-8":  "abc\xffdef",
		"tab at end": "abcdef\t",
	} {
		err := f.sender.Send(context.Background(), notify.Target{Kind: notify.KindFCM, Token: tok}, sample())
		if class(err) != "permanent" {
			t.Errorf("%s: err = %v, want a PermanentError", name, err)
		}
	}
	err := f.sender.Send(context.Background(), notify.Target{Kind: notify.KindAPNs, Token: f.token}, sample())
	if class(err) != "permanent" {
		t.Errorf("APNs target: err = %v, want a PermanentError", err)
	}
	if s, tr := f.srv.SendRequests(), f.srv.TokenRequests(); s != 0 || tr != 0 {
		t.Errorf("%d send and %d token requests, want none", s, tr)
	}
}

func TestCanceledContext(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.sender.Send(ctx, notify.Target{Token: f.token}, sample())
	if !errors.Is(err, context.Canceled) || class(err) != "transient" {
		t.Errorf("err = %v, want a transient context.Canceled", err)
	}
}

func TestConcurrentSends(t *testing.T) {
	f := newFixture(t, nil)
	const workers, each = 16, 20
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		tok := f.srv.NewToken(project)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := sample()
				n.ID = strconv.Itoa(w*each + i)
				errs <- f.sender.Send(context.Background(), notify.Target{Kind: notify.KindFCM, Token: tok}, n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if got := len(f.srv.Messages()); got != workers*each {
		t.Errorf("%d messages, want %d", got, workers*each)
	}
	if got := f.srv.TokenRequests(); got != 1 {
		t.Errorf("%d token requests for %d concurrent sends, want 1", got, workers*each)
	}
}

func TestProjectIDOverride(t *testing.T) {
	// The account belongs to project; sending as another one is refused.
	f := newFixture(t, func(c *fcm.Config) { c.ProjectID = "someone-else" })
	var apiErr *fcm.APIError
	err := f.send(t, sample())
	if class(err) != "permanent" || !errors.As(err, &apiErr) || apiErr.Status != "PERMISSION_DENIED" {
		t.Errorf("err = %v, want a permanent PERMISSION_DENIED", err)
	}
}
