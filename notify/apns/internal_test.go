package apns

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
)

func TestBuildPayloadTitleToo(t *testing.T) {
	n := notify.Notification{Title: strings.Repeat("T", 5000), Body: strings.Repeat("b", 5000)}
	b, err := buildPayload(n)
	if err != nil {
		t.Fatal(err)
	}
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxPayload || p.APS.Alert.Body != ellipsis || !strings.HasSuffix(p.APS.Alert.Title, ellipsis) {
		t.Fatalf("%d bytes, title %.20q…, body %q", len(b), p.APS.Alert.Title, p.APS.Alert.Body)
	}
}

func TestBuildPayloadCannotFit(t *testing.T) {
	n := notify.Notification{ConversationID: strings.Repeat("c", 5000), Body: "hi"}
	if _, err := buildPayload(n); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("buildPayload: %v, want an error about the limit", err)
	}
}

func TestApnsID(t *testing.T) {
	a, b := apnsID("x"), apnsID("x")
	if a != b || len(a) != 36 || a == apnsID("y") || strings.ToLower(a) != a {
		t.Fatalf("apnsID: %q %q %q", a, b, apnsID("y"))
	}
	if apnsID("") != "" {
		t.Fatal("an empty ID must leave apns-id to APNs")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"0":  0,
		"12": 12 * time.Second,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
		"99999999999999": 24 * time.Hour,
	}
	for v, want := range cases {
		if got, ok := parseRetryAfter(v, now); !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %s %v, want %s", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-1", "soon"} {
		if _, ok := parseRetryAfter(v, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", v)
		}
	}
}

func TestExpiration(t *testing.T) {
	now := time.Unix(1000, 500)
	if got := expiration(now, 0).Unix(); got != 0 {
		t.Errorf("TTL 0: %d, want 0", got)
	}
	if got := expiration(now, time.Second).Unix(); got != 1002 {
		t.Errorf("TTL 1s: %d, want 1002 (rounded up)", got)
	}
}
