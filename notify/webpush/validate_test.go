package webpush_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/ringchat/ringchat/notify/webpush"
	"github.com/ringchat/ringchat/notify/webpush/webpushtest"
)

func TestNewValidatesConfig(t *testing.T) {
	pub, priv, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := webpush.GenerateKeys()
	good := webpush.Config{VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subject: subject}
	s, err := webpush.New(good)
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	if s.PublicKey() != pub {
		t.Errorf("PublicKey = %q, want %q", s.PublicKey(), pub)
	}
	padded := good
	padded.VAPIDPublicKey = base64.URLEncoding.EncodeToString(mustDecode(t, pub))
	padded.VAPIDPrivateKey = base64.URLEncoding.EncodeToString(mustDecode(t, priv))
	if s, err := webpush.New(padded); err != nil || s.PublicKey() != pub {
		t.Errorf("padded keys: %v, PublicKey %q", err, s.PublicKey())
	}

	cases := map[string]func(*webpush.Config){
		"no public key":       func(c *webpush.Config) { c.VAPIDPublicKey = "" },
		"no private key":      func(c *webpush.Config) { c.VAPIDPrivateKey = "" },
		"public not base64":   func(c *webpush.Config) { c.VAPIDPublicKey = "not base64!" },
		"public short":        func(c *webpush.Config) { c.VAPIDPublicKey = pub[:40] },
		"public off curve":    func(c *webpush.Config) { c.VAPIDPublicKey = offCurvePoint() },
		"private short":       func(c *webpush.Config) { c.VAPIDPrivateKey = priv[:20] },
		"private zero":        func(c *webpush.Config) { c.VAPIDPrivateKey = base64.RawURLEncoding.EncodeToString(make([]byte, 32)) },
		"pair mismatch":       func(c *webpush.Config) { c.VAPIDPublicKey = otherPub },
		"keys swapped":        func(c *webpush.Config) { c.VAPIDPublicKey, c.VAPIDPrivateKey = priv, pub },
		"subject bare e-mail": func(c *webpush.Config) { c.Subject = "ops@ringchat.test" },
		"subject http":        func(c *webpush.Config) { c.Subject = "http://ringchat.test" },
		"subject empty":       func(c *webpush.Config) { c.Subject = "" },
		"subject mailto none": func(c *webpush.Config) { c.Subject = "mailto:" },
		"subject https no host": func(c *webpush.Config) {
			c.Subject = "https:///contact"
		},
		"urgency":     func(c *webpush.Config) { c.Urgency = "urgent" },
		"timeout":     func(c *webpush.Config) { c.Timeout = -1 },
		"default TTL": func(c *webpush.Config) { c.DefaultTTL = -1 },
	}
	for name, edit := range cases {
		cfg := good
		edit(&cfg)
		if _, err := webpush.New(cfg); !errors.Is(err, webpush.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestGenerateKeysFormat(t *testing.T) {
	pub, priv, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(mustDecode(t, pub)) != 65 || len(mustDecode(t, priv)) != 32 || strings.ContainsAny(pub+priv, "+/=") {
		t.Fatalf("keys %q %q are not unpadded base64url of 65 and 32 bytes", pub, priv)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// offCurvePoint is 65 bytes that look like an uncompressed point but are not
// on P-256.
func offCurvePoint() string {
	b := make([]byte, 65)
	b[0], b[64] = 4, 1
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestMalformedSubscriptionRejectedBeforeNetwork(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	compressed := append([]byte{2}, k.PublicKey().Bytes()[1:33]...)
	p256 := mustDecode(t, sub.P256DH)
	auth := mustDecode(t, sub.Auth)
	std := base64.StdEncoding.EncodeToString(p256)
	if !strings.ContainsAny(std, "+/") {
		std = "+" + std[1:] // make sure the standard alphabet shows
	}
	cases := map[string]func(*webpushtest.Subscription){
		"p256dh empty":      func(s *webpushtest.Subscription) { s.P256DH = "" },
		"p256dh not base64": func(s *webpushtest.Subscription) { s.P256DH = "!!!" },
		"p256dh std base64": func(s *webpushtest.Subscription) { s.P256DH = std },
		"p256dh 64 bytes":   func(s *webpushtest.Subscription) { s.P256DH = b64(p256[:64]) },
		"p256dh compressed": func(s *webpushtest.Subscription) { s.P256DH = b64(compressed) },
		"p256dh off curve":  func(s *webpushtest.Subscription) { s.P256DH = offCurvePoint() },
		"auth empty":        func(s *webpushtest.Subscription) { s.Auth = "" },
		"auth 15 bytes":     func(s *webpushtest.Subscription) { s.Auth = b64(auth[:15]) },
		"auth 17 bytes":     func(s *webpushtest.Subscription) { s.Auth = b64(append(auth, 0)) },
		"auth bad padding":  func(s *webpushtest.Subscription) { s.Auth = b64(auth) + "=" },
		"endpoint empty":    func(s *webpushtest.Subscription) { s.Endpoint = "" },
		"endpoint http":     func(s *webpushtest.Subscription) { s.Endpoint = strings.Replace(s.Endpoint, "https:", "http:", 1) },
		"endpoint relative": func(s *webpushtest.Subscription) { s.Endpoint = "/push/" + s.ID },
		"endpoint ftp":      func(s *webpushtest.Subscription) { s.Endpoint = "ftp://push.example/x" },
		"endpoint opaque":   func(s *webpushtest.Subscription) { s.Endpoint = "https:push.example" },
		"endpoint userinfo": func(s *webpushtest.Subscription) {
			s.Endpoint = strings.Replace(s.Endpoint, "https://", "https://u:p@", 1)
		},
		"endpoint too long":  func(s *webpushtest.Subscription) { s.Endpoint += strings.Repeat("a", 3000) },
		"endpoint not a URL": func(s *webpushtest.Subscription) { s.Endpoint = "https://%zz" },
	}
	for name, edit := range cases {
		bad := sub
		edit(&bad)
		err := s.Send(t.Context(), bad.Target(), notice())
		if !errors.Is(asPermanent(t, err), webpush.ErrInvalidSubscription) {
			t.Errorf("%s: err = %v, want ErrInvalidSubscription", name, err)
		}
	}
	assertNoRequest(t, srv)

	// Padded base64url is what some clients send: accepted.
	padded := sub
	padded.P256DH = base64.URLEncoding.EncodeToString(p256)
	padded.Auth = base64.URLEncoding.EncodeToString(auth)
	if err := s.Send(t.Context(), padded.Target(), notice()); err != nil {
		t.Fatalf("padded keys: %v", err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestPrivateEndpointRefused(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, func(c *webpush.Config) { c.AllowPrivateEndpoints = false })
	sub := srv.NewSubscription()
	port := strings.TrimPrefix(srv.URL(), "https://127.0.0.1")
	for _, endpoint := range []string{
		sub.Endpoint, // 127.0.0.1, where the server does listen
		"https://localhost" + port + "/push/" + sub.ID,
		"https://LOCALHOST./x",
		"https://chatd.localhost/x",
		"https://[::1]/x",
		"https://10.1.2.3/x",
		"https://172.16.0.1/x",
		"https://192.168.1.1/x",
		"https://169.254.169.254/latest/meta-data",
		"https://[fe80::1%25eth0]/x",
		"https://[fd00::1]/x",
		"https://0.0.0.0/x",
		"https://[::]/x",
		"https://[::ffff:127.0.0.1]/x",
		"https://100.64.0.1/x",
		"https://[64:ff9b::a00:1]/x",
	} {
		bad := sub
		bad.Endpoint = endpoint
		err := s.Send(t.Context(), bad.Target(), notice())
		if !errors.Is(asPermanent(t, err), webpush.ErrPrivateEndpoint) {
			t.Errorf("%s: err = %v, want ErrPrivateEndpoint", endpoint, err)
		}
	}
	assertNoRequest(t, srv)

	allowed := newSender(t, srv, nil)
	if err := allowed.Send(t.Context(), sub.Target(), notice()); err != nil {
		t.Fatalf("AllowPrivateEndpoints: %v", err)
	}
}
