package chat

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

func pushApp(kinds ...string) *App {
	return &App{cfg: Config{Notify: NotifyConfig{Kinds: kinds}}, now: time.Now}
}

// Every field of a registration is checked before anything is stored.
func TestPushTargetValidation(t *testing.T) {
	key := make([]byte, 65)
	key[0] = 4
	p256 := base64.RawURLEncoding.EncodeToString(key)
	auth := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	hex64 := strings.Repeat("ab", 32)
	me := repo.Session{UserID: 1, DeviceID: 2}
	a := pushApp("fcm", "apns", "webpush", "webhook")
	cases := []struct {
		name string
		in   PushTargetInput
		ok   bool
	}{
		{"fcm", PushTargetInput{Kind: "fcm", Token: "abc:DEF-123_x"}, true},
		{"fcm empty", PushTargetInput{Kind: "fcm"}, false},
		{"fcm space", PushTargetInput{Kind: "fcm", Token: "a b"}, false},
		{"fcm unicode format char", PushTargetInput{Kind: "fcm", Token: "abc\u200bdef"}, false},
		{"fcm too long", PushTargetInput{Kind: "fcm", Token: strings.Repeat("a", 4097)}, false},
		{"apns", PushTargetInput{Kind: "apns", Token: hex64, Topic: "com.example.app"}, true},
		{"apns odd hex", PushTargetInput{Kind: "apns", Token: hex64 + "a", Topic: "com.example.app"}, false},
		{"apns short", PushTargetInput{Kind: "apns", Token: "abcd", Topic: "com.example.app"}, false},
		{"apns no topic", PushTargetInput{Kind: "apns", Token: hex64}, false},
		{"webpush", PushTargetInput{Kind: "webpush", Endpoint: "https://push.example.com/x", P256DH: p256, Auth: auth}, true},
		{"webpush no keys", PushTargetInput{Kind: "webpush", Endpoint: "https://push.example.com/x"}, false},
		{"webpush compressed key", PushTargetInput{Kind: "webpush", Endpoint: "https://push.example.com/x", P256DH: base64.RawURLEncoding.EncodeToString(key[:33]), Auth: auth}, false},
		{"webpush http", PushTargetInput{Kind: "webpush", Endpoint: "http://push.example.com/x", P256DH: p256, Auth: auth}, false},
		{"webhook", PushTargetInput{Kind: "webhook", Endpoint: "https://hooks.example.com/in"}, true},
		{"webhook loopback", PushTargetInput{Kind: "webhook", Endpoint: "https://127.0.0.1/in"}, false},
		{"webhook localhost", PushTargetInput{Kind: "webhook", Endpoint: "https://api.localhost/in"}, false},
		{"webhook metadata", PushTargetInput{Kind: "webhook", Endpoint: "https://169.254.169.254/latest"}, false},
		{"webhook mapped v6", PushTargetInput{Kind: "webhook", Endpoint: "https://[::ffff:10.0.0.1]/in"}, false},
		{"webhook no host", PushTargetInput{Kind: "webhook", Endpoint: "https://:443/in"}, false},
		{"webhook credentials", PushTargetInput{Kind: "webhook", Endpoint: "https://u:p@hooks.example.com/in"}, false},
		{"webhook too long", PushTargetInput{Kind: "webhook", Endpoint: "https://hooks.example.com/" + strings.Repeat("a", 2048)}, false},
		{"unknown kind", PushTargetInput{Kind: "sms", Token: "x"}, false},
		{"quiet hours", PushTargetInput{Kind: "fcm", Token: "t", QuietStart: "22:00", QuietEnd: "07:00", TimeZone: "Europe/Paris"}, true},
		{"quiet equal", PushTargetInput{Kind: "fcm", Token: "t", QuietStart: "22:00", QuietEnd: "22:00", TimeZone: "Europe/Paris"}, false},
		{"quiet Local", PushTargetInput{Kind: "fcm", Token: "t", QuietStart: "22:00", QuietEnd: "07:00", TimeZone: "Local"}, false},
		{"quiet bad zone", PushTargetInput{Kind: "fcm", Token: "t", QuietStart: "22:00", QuietEnd: "07:00", TimeZone: "Mars/Olympus"}, false},
		{"quiet 24:00", PushTargetInput{Kind: "fcm", Token: "t", QuietStart: "24:00", QuietEnd: "07:00", TimeZone: "UTC"}, false},
		{"quiet half", PushTargetInput{Kind: "fcm", Token: "t", QuietStart: "22:00", TimeZone: "UTC"}, false},
	}
	for _, c := range cases {
		_, err := a.pushTarget(me, c.in)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !repo.IsCode(err, repo.CodeInvalidArgument) {
			t.Errorf("%s: %v is not invalid_argument", c.name, err)
		}
	}
	if _, err := pushApp().pushTarget(me, PushTargetInput{Kind: "fcm", Token: "t"}); !repo.IsCode(err, repo.CodeUnavailable) {
		t.Errorf("push off: %v, want unavailable", err)
	}
	if _, err := pushApp("webhook").pushTarget(me, PushTargetInput{Kind: "fcm", Token: "t"}); !repo.IsCode(err, repo.CodeInvalidArgument) {
		t.Errorf("a kind not carried: %v, want invalid_argument", err)
	}
}

func TestInQuietHours(t *testing.T) {
	wrap := repo.PushTarget{QuietStart: 22 * 60, QuietEnd: 7 * 60, TimeZone: "Asia/Tokyo"} // UTC+9, no DST
	day := repo.PushTarget{QuietStart: 9 * 60, QuietEnd: 17 * 60, TimeZone: "UTC"}
	at := func(h, m int) time.Time { return time.Date(2026, 12, 4, h, m, 0, 0, time.UTC) }
	for _, c := range []struct {
		t    repo.PushTarget
		at   time.Time
		want bool
	}{
		{wrap, at(13, 0), true},   // 22:00 Tokyo
		{wrap, at(12, 59), false}, // 21:59
		{wrap, at(21, 59), true},  // 06:59
		{wrap, at(22, 0), false},  // 07:00
		{day, at(9, 0), true},
		{day, at(17, 0), false},
		{repo.PushTarget{}, at(3, 0), false},
	} {
		if got := InQuietHours(c.t, c.at, time.LoadLocation); got != c.want {
			t.Errorf("%+v at %s: %v, want %v", c.t, c.at, got, c.want)
		}
	}
}

func TestBackoffStaysInItsBounds(t *testing.T) {
	for attempt := 1; attempt < 40; attempt++ {
		bound := min(time.Second<<min(attempt-1, 20), time.Minute)
		for range 50 {
			if d := backoff(time.Second, time.Minute, attempt); d < bound/2 || d > bound {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, bound/2, bound)
			}
		}
	}
}
