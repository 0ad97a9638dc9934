package fcm

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ringchat/ringchat/notify"
)

// payloadOf decodes a request body and measures its payload as fit does.
func payloadOf(t *testing.T, body []byte) (message, int) {
	t.Helper()
	var req sendRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	m := req.Message
	m.Token = ""
	b, err := encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return req.Message, len(b)
}

func TestFitKeepsAllThatFits(t *testing.T) {
	orig := strings.Repeat("é🎉x<", 2000) // no spaces, so the cut is exactly where it fits
	n := notify.Notification{Title: "t", Body: orig, CollapseKey: "k", Count: 1, TTL: time.Hour}
	body, err := buildMessage("tok", n, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, size := payloadOf(t, body)
	if size > maxPayload {
		t.Fatalf("payload is %d bytes", size)
	}
	kept, ok := strings.CutSuffix(m.Notification.Body, ellipsis)
	if !ok || !strings.HasPrefix(orig, kept) || !utf8.ValidString(kept) {
		t.Fatalf("body %q is not a prefix and an ellipsis", m.Notification.Body)
	}
	// One rune more would not have fitted.
	_, w := utf8.DecodeRuneInString(orig[len(kept):])
	m.Notification.Body = orig[:len(kept)+w] + ellipsis
	m.Token = ""
	if b, _ := encode(m); len(b) <= maxPayload {
		t.Errorf("body cut at %d bytes, but %d would fit", len(kept), len(kept)+w)
	}
}

func TestFitFailsWhenNothingGives(t *testing.T) {
	n := notify.Notification{ConversationID: strings.Repeat("c", 5000), Body: "b"}
	if _, err := buildMessage("tok", n, time.Now()); err == nil {
		t.Error("a message over the limit without a title or body to cut was built")
	}
}

func TestShortNotificationUnchanged(t *testing.T) {
	n := notify.Notification{Title: "Bob", Body: "hi <3 & bye  "}
	body, err := buildMessage("tok", n, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, _ := payloadOf(t, body)
	if m.Notification != (notification{Title: "Bob", Body: "hi <3 & bye  "}) || m.Token != "tok" {
		t.Errorf("message = %+v", m)
	}
	if strings.Contains(string(body), `\u003c`) {
		t.Error("< was HTML-escaped, spending payload")
	}
}

func TestTTLString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:                             "3600s",
		1500 * time.Millisecond:               "1.5s",
		time.Nanosecond:                       "0.000000001s",
		90*time.Second + 250*time.Microsecond: "90.00025s",
	} {
		if got := ttlString(d); got != want {
			t.Errorf("ttlString(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestTTLCapped(t *testing.T) {
	body, err := buildMessage("tok", notify.Notification{TTL: 365 * 24 * time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := payloadOf(t, body); m.Android.TTL != "2419200s" {
		t.Errorf("ttl = %q, want FCM's four weeks", m.Android.TTL)
	}
}

func TestCollapseID(t *testing.T) {
	short := strings.Repeat("a", 64)
	if got := collapseID(short); got != short {
		t.Errorf("a 64-byte key was changed to %q", got)
	}
	long := strings.Repeat("a", 65)
	if got := collapseID(long); len(got) != 64 || got == collapseID(long+"b") {
		t.Errorf("collapseID(65 bytes) = %q", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0":                             0,
		"120":                           2 * time.Minute,
		" 7 ":                           7 * time.Second,
		"99999999999999999999":          maxRetryAfter,
		"Fri, 04 Dec 2026 01:00:30 GMT": 30 * time.Second,
		"Fri, 04 Dec 2026 00:59:00 GMT": 0, // past: now
	} {
		if got, ok := retryAfter(v, now); !ok || got != want {
			t.Errorf("retryAfter(%q) = %s, %v; want %s", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-5", "1.5", "soon"} {
		if _, ok := retryAfter(v, now); ok {
			t.Errorf("retryAfter(%q) was taken", v)
		}
	}
}
