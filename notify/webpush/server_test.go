package webpush_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	webpushgo "github.com/SherClockHolmes/webpush-go"

	"github.com/ringchat/ringchat/notify/webpush/webpushtest"
)

// These tests hand-craft requests to the test server so that its checks are
// tested on their own: a server that accepted anything would make every
// Sender test pass.

type vapidKey struct {
	priv *ecdsa.PrivateKey
	pub  string // base64url of the uncompressed point
}

func newVAPIDKey(t *testing.T) vapidKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return vapidKey{priv: priv, pub: b64(pub)}
}

// signJWT signs header.claims with ES256 (r||s, RFC 7518 §3.4) by hand.
func signJWT(t *testing.T, k *ecdsa.PrivateKey, header, claims any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b64(b)
	}
	signing := enc(header) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64(sig)
}

// capturer is a webpushgo.HTTPClient that keeps the request instead of sending it.
type capturer struct {
	header http.Header
	body   []byte
}

func (c *capturer) Do(r *http.Request) (*http.Response, error) {
	c.header = r.Header.Clone()
	c.body, _ = io.ReadAll(r.Body)
	return &http.Response{StatusCode: http.StatusCreated, Body: io.NopCloser(strings.NewReader(""))}, nil
}

// captureRequest has webpush-go encrypt and sign a message for sub.
func captureRequest(t *testing.T, k vapidKey, sub webpushtest.Subscription) *capturer {
	t.Helper()
	priv, err := k.priv.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	c := &capturer{}
	_, err = webpushgo.SendNotification([]byte(`{"title":"hi"}`), &webpushgo.Subscription{
		Endpoint: sub.Endpoint, Keys: webpushgo.Keys{P256dh: sub.P256DH, Auth: sub.Auth},
	}, &webpushgo.Options{HTTPClient: c, Subscriber: "ops@ringchat.test", TTL: 60,
		VAPIDPublicKey: k.pub, VAPIDPrivateKey: b64(priv)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func post(t *testing.T, srv *webpushtest.Server, endpoint string, h http.Header, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestServerChecks(t *testing.T) {
	srv := webpushtest.New(t)
	app, other := newVAPIDKey(t), newVAPIDKey(t)
	srv.RequireKey(app.pub)
	sub, gone := srv.NewSubscription(), srv.NewSubscription()
	srv.Remove(gone.ID)
	captured := captureRequest(t, app, sub)

	now := time.Now()
	es256 := map[string]string{"typ": "JWT", "alg": "ES256"}
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"aud": srv.URL(), "exp": now.Add(12 * time.Hour).Unix(), "sub": subject}
		if edit != nil {
			edit(c)
		}
		return c
	}
	auth := func(token, k string) string { return "vapid t=" + token + ", k=" + k }
	good := auth(signJWT(t, app.priv, es256, claims(nil)), app.pub)
	tampered := strings.Split(good, ".")
	tampered[1] = b64([]byte(`{"aud":"` + srv.URL() + `","exp":9999999999,"sub":"` + subject + `"}`))

	type req struct {
		name   string
		status int
		edit   func(h http.Header, body *[]byte, endpoint *string)
	}
	setAuth := func(v string) func(http.Header, *[]byte, *string) {
		return func(h http.Header, _ *[]byte, _ *string) { h.Set("Authorization", v) }
	}
	setHeader := func(k, v string) func(http.Header, *[]byte, *string) {
		return func(h http.Header, _ *[]byte, _ *string) { h.Set(k, v) }
	}
	cases := []req{
		{"webpush-go request as is", 201, nil},
		{"hand-signed token", 201, setAuth(good)},
		{"hand-signed, padded k", 201, setAuth(auth(signJWT(t, app.priv, es256, claims(nil)), app.pub+"="))},
		{"wrong aud host", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { c["aud"] = "https://push.example" })), app.pub))},
		{"aud http scheme", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { c["aud"] = strings.Replace(srv.URL(), "https", "http", 1) })), app.pub))},
		{"aud with path", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { c["aud"] = srv.URL() + "/" })), app.pub))},
		{"expired", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), app.pub))},
		{"exp over 24h", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { c["exp"] = now.Add(25 * time.Hour).Unix() })), app.pub))},
		{"no exp", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { delete(c, "exp") })), app.pub))},
		{"no sub", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { delete(c, "sub") })), app.pub))},
		{"sub mailto:mailto:", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { c["sub"] = "mailto:" + subject })), app.pub))},
		{"sub http", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(func(c map[string]any) { c["sub"] = "http://ringchat.test" })), app.pub))},
		{"alg HS256", 401, setAuth(auth(signJWT(t, app.priv, map[string]string{"alg": "HS256"}, claims(nil)), app.pub))},
		{"signed by another key, k ours", 401, setAuth(auth(signJWT(t, other.priv, es256, claims(nil)), app.pub))},
		{"signed by ours, k another", 401, setAuth(auth(signJWT(t, app.priv, es256, claims(nil)), other.pub))},
		{"another application server key", 403, setAuth(auth(signJWT(t, other.priv, es256, claims(nil)), other.pub))},
		{"claims changed after signing", 401, setAuth(strings.Join(tampered, "."))},
		{"no Authorization", 401, func(h http.Header, _ *[]byte, _ *string) { h.Del("Authorization") }},
		{"Bearer scheme", 401, setAuth("Bearer " + strings.TrimPrefix(good, "vapid t="))},
		{"no k", 401, setAuth(strings.Split(good, ",")[0])},
		{"unknown subscription", 410, func(_ http.Header, _ *[]byte, e *string) { *e = srv.URL() + "/push/nope" }},
		{"removed subscription", 410, func(_ http.Header, _ *[]byte, e *string) { *e = gone.Endpoint }},
		{"Content-Encoding aesgcm", 400, setHeader("Content-Encoding", "aesgcm")},
		{"no Content-Encoding", 400, func(h http.Header, _ *[]byte, _ *string) { h.Del("Content-Encoding") }},
		{"no TTL", 400, func(h http.Header, _ *[]byte, _ *string) { h.Del("TTL") }},
		{"negative TTL", 400, setHeader("TTL", "-1")},
		{"TTL not a number", 400, setHeader("TTL", "soon")},
		{"Topic too long", 400, setHeader("Topic", strings.Repeat("a", 33))},
		{"Topic outside base64url", 400, setHeader("Topic", "conv:42")},
		{"Urgency unknown", 400, setHeader("Urgency", "urgent")},
		{"body over 4096", 413, func(_ http.Header, b *[]byte, _ *string) { *b = append(*b, 0) }},
		{"ciphertext altered", 400, func(_ http.Header, b *[]byte, _ *string) { (*b)[len(*b)-1] ^= 1 }},
		{"salt altered", 400, func(_ http.Header, b *[]byte, _ *string) { (*b)[0] ^= 1 }},
		{"truncated", 400, func(_ http.Header, b *[]byte, _ *string) { *b = (*b)[:50] }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, body, endpoint := captured.header.Clone(), bytes.Clone(captured.body), sub.Endpoint
			if c.edit != nil {
				c.edit(h, &body, &endpoint)
			}
			before := len(srv.Pushes())
			if got := post(t, srv, endpoint, h, body); got != c.status {
				t.Fatalf("status %d, want %d (rejections %+v)", got, c.status, srv.Rejections())
			}
			if r := srv.Rejections(); c.status != 201 && len(r) > 0 {
				t.Logf("refused: %s", r[len(r)-1].Reason)
			}
			delivered := len(srv.Pushes()) - before
			if want := map[bool]int{true: 1, false: 0}[c.status == 201]; delivered != want {
				t.Fatalf("%d pushes recorded, want %d", delivered, want)
			}
			if c.status == 201 {
				if p := srv.Pushes()[before]; string(p.Plaintext) != `{"title":"hi"}` || p.TTL != 60 {
					t.Errorf("push %+v", p)
				}
			}
		})
	}
}

func TestServerInjectsAnswers(t *testing.T) {
	srv := webpushtest.New(t)
	app := newVAPIDKey(t)
	sub := srv.NewSubscription()
	c := captureRequest(t, app, sub)
	srv.Inject(webpushtest.Answer{Status: 429, RetryAfter: "5"}, webpushtest.Answer{Status: 503})
	// A request the server refuses itself does not use up an injected answer.
	h := c.header.Clone()
	h.Del("TTL")
	if got := post(t, srv, sub.Endpoint, h, c.body); got != 400 {
		t.Fatalf("no TTL: %d", got)
	}
	for _, want := range []int{429, 503, 201} {
		if got := post(t, srv, sub.Endpoint, c.header.Clone(), c.body); got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
	}
	if n := len(srv.Pushes()); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
}
