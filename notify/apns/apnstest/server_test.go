package apnstest_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringchat/ringchat/notify/apns/apnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const topic = "com.ringchat.app"

const goodBody = `{"aps":{"alert":{"title":"t","body":"b"}}}`

func newToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

type answer struct {
	status int
	reason string
	header http.Header
	body   map[string]any
}

// post sends one hand-made request to srv.
func post(t *testing.T, srv *apnstest.Server, method, path string, h map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("answer body %q is not JSON: %v", raw, err)
		}
		a.reason, _ = a.body["reason"].(string)
	}
	return a
}

func TestServerChecks(t *testing.T) {
	srv := apnstest.NewServer(t)
	k := srv.NewKey(t)
	other, err := apnstest.GenerateKey() // never registered
	if err != nil {
		t.Fatal(err)
	}
	dev := newToken(t)
	srv.AddDevice(dev, topic)
	now := time.Now()

	sign := func(priv *apnstest.Key, header, claims map[string]any) string {
		tok, err := apnstest.SignJWT(priv.Private, header, claims)
		if err != nil {
			t.Fatal(err)
		}
		return "bearer " + tok
	}
	good := "bearer " + k.JWT(now)
	hdr := func(authz string, extra ...string) map[string]string {
		h := map[string]string{"authorization": authz, "apns-topic": topic, "apns-push-type": "alert"}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				delete(h, extra[i])
			} else {
				h[extra[i]] = extra[i+1]
			}
		}
		return h
	}
	// Tampering with the claims after signing.
	parts := strings.Split(k.JWT(now), ".")
	parts[1] = strings.Split(other.JWT(now), ".")[1]
	tampered := "bearer " + strings.Join(parts, ".")
	otherAsK := other
	otherAsK.KeyID, otherAsK.TeamID = k.KeyID, k.TeamID

	cases := []struct {
		name   string
		method string
		path   string
		h      map[string]string
		body   string
		status int
		reason string
	}{
		{"get", http.MethodGet, "/3/device/" + dev, hdr(good), "", 405, apnstest.ReasonMethodNotAllowed},
		{"bad path", http.MethodPost, "/2/device/" + dev, hdr(good), goodBody, 404, apnstest.ReasonBadPath},
		{"no token", http.MethodPost, "/3/device/", hdr(good), goodBody, 400, apnstest.ReasonMissingDeviceToken},
		{"bad token", http.MethodPost, "/3/device/xyz" + dev[3:], hdr(good), goodBody, 400, apnstest.ReasonBadDeviceToken},
		{"short token", http.MethodPost, "/3/device/" + dev[:62], hdr(good), goodBody, 400, apnstest.ReasonBadDeviceToken},
		{"no authorization", http.MethodPost, "/3/device/" + dev, hdr(""), goodBody, 403, apnstest.ReasonMissingProviderToken},
		{"not bearer", http.MethodPost, "/3/device/" + dev, hdr("basic " + k.JWT(now)), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"not a jwt", http.MethodPost, "/3/device/" + dev, hdr("bearer abc.def"), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"unknown key id", http.MethodPost, "/3/device/" + dev, hdr("bearer " + other.JWT(now)), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"wrong key id", http.MethodPost, "/3/device/" + dev, hdr(sign(&k, map[string]any{"alg": "ES256", "kid": "ABCDEFGHIJ"}, map[string]any{"iss": k.TeamID, "iat": now.Unix()})), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"wrong team", http.MethodPost, "/3/device/" + dev, hdr(sign(&k, map[string]any{"alg": "ES256", "kid": k.KeyID}, map[string]any{"iss": "WRONGTEAM1", "iat": now.Unix()})), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"no iat", http.MethodPost, "/3/device/" + dev, hdr(sign(&k, map[string]any{"alg": "ES256", "kid": k.KeyID}, map[string]any{"iss": k.TeamID})), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"iat a string", http.MethodPost, "/3/device/" + dev, hdr(sign(&k, map[string]any{"alg": "ES256", "kid": k.KeyID}, map[string]any{"iss": k.TeamID, "iat": "1"})), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"alg HS256", http.MethodPost, "/3/device/" + dev, hdr(sign(&k, map[string]any{"alg": "HS256", "kid": k.KeyID}, map[string]any{"iss": k.TeamID, "iat": now.Unix()})), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"signed by another key", http.MethodPost, "/3/device/" + dev, hdr("bearer " + otherAsK.JWT(now)), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"tampered claims", http.MethodPost, "/3/device/" + dev, hdr(tampered), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"iat in the future", http.MethodPost, "/3/device/" + dev, hdr("bearer " + k.JWT(now.Add(time.Minute))), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"expired", http.MethodPost, "/3/device/" + dev, hdr("bearer " + k.JWT(now.Add(-61*time.Minute))), goodBody, 403, apnstest.ReasonExpiredProviderToken},
		{"expired and forged", http.MethodPost, "/3/device/" + dev, hdr("bearer " + otherAsK.JWT(now.Add(-2*time.Hour))), goodBody, 403, apnstest.ReasonInvalidProviderToken},
		{"no topic", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-topic", ""), goodBody, 400, apnstest.ReasonMissingTopic},
		{"no push type", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-push-type", ""), goodBody, 400, apnstest.ReasonInvalidPushType},
		{"bad push type", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-push-type", "shout"), goodBody, 400, apnstest.ReasonInvalidPushType},
		{"bad apns-id", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-id", "not-a-uuid"), goodBody, 400, apnstest.ReasonBadMessageID},
		{"braced apns-id", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-id", "{123e4567-e89b-12d3-a456-426655440000}"), goodBody, 400, apnstest.ReasonBadMessageID},
		{"long collapse id", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-collapse-id", strings.Repeat("c", 65)), goodBody, 400, apnstest.ReasonBadCollapseID},
		{"bad priority", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-priority", "7"), goodBody, 400, apnstest.ReasonBadPriority},
		{"bad expiration", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-expiration", "soon"), goodBody, 400, apnstest.ReasonBadExpirationDate},
		{"too large", http.MethodPost, "/3/device/" + dev, hdr(good), `{"aps":{},"x":"` + strings.Repeat("x", 4096) + `"}`, 413, apnstest.ReasonPayloadTooLarge},
		{"empty body", http.MethodPost, "/3/device/" + dev, hdr(good), "", 400, apnstest.ReasonPayloadEmpty},
		{"no aps", http.MethodPost, "/3/device/" + dev, hdr(good), `{"x":1}`, 400, apnstest.ReasonPayloadEmpty},
		{"aps not a dictionary", http.MethodPost, "/3/device/" + dev, hdr(good), `{"aps":"hi"}`, 400, apnstest.ReasonBadPayload},
		{"not json", http.MethodPost, "/3/device/" + dev, hdr(good), `{"aps":`, 400, apnstest.ReasonBadPayload},
		{"unknown device", http.MethodPost, "/3/device/" + newToken(t), hdr(good), goodBody, 410, apnstest.ReasonUnregistered},
		{"wrong topic", http.MethodPost, "/3/device/" + dev, hdr(good, "apns-topic", "com.other.app"), goodBody, 400, apnstest.ReasonDeviceTokenNotForTopic},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := post(t, srv, c.method, c.path, c.h, c.body)
			if a.status != c.status || a.reason != c.reason {
				t.Fatalf("answered %d %q, want %d %q", a.status, a.reason, c.status, c.reason)
			}
			if a.header.Get("apns-id") == "" {
				t.Error("no apns-id header on the answer")
			}
			if c.status == 410 {
				if ts, ok := a.body["timestamp"].(float64); !ok || ts <= 0 {
					t.Errorf("410 without a timestamp: %v", a.body)
				}
			}
		})
	}
	if n := len(srv.Accepted()); n != 0 {
		t.Fatalf("%d refused requests recorded as accepted", n)
	}
	if n := len(srv.Requests()); n != len(cases) {
		t.Fatalf("%d requests recorded, want %d", n, len(cases))
	}

	t.Run("good", func(t *testing.T) {
		id := "123e4567-e89b-12d3-a456-426655440000"
		a := post(t, srv, http.MethodPost, "/3/device/"+dev, hdr(good, "apns-id", id, "apns-expiration", "0", "apns-priority", "10"), goodBody)
		if a.status != 200 || a.body != nil {
			t.Fatalf("answered %d %v, want 200 and no body", a.status, a.body)
		}
		if got := a.header.Get("apns-id"); got != id {
			t.Errorf("apns-id %q, want the request's %q", got, id)
		}
		acc := srv.Accepted()
		if len(acc) != 1 {
			t.Fatalf("%d accepted, want 1", len(acc))
		}
		r := acc[0]
		if r.Token != dev || r.Topic != topic || r.ID != id || r.KeyID != k.KeyID || r.TeamID != k.TeamID || r.Expiration != "0" {
			t.Errorf("recorded %+v", r)
		}
		if r.Payload["aps"] == nil {
			t.Errorf("payload not decoded: %v", r.Payload)
		}
	})
	t.Run("removed device", func(t *testing.T) {
		gone := newToken(t)
		srv.AddDevice(gone, topic)
		srv.RemoveDevice(gone)
		if a := post(t, srv, http.MethodPost, "/3/device/"+gone, hdr(good), goodBody); a.status != 410 || a.reason != apnstest.ReasonUnregistered {
			t.Fatalf("answered %d %q, want 410 Unregistered", a.status, a.reason)
		}
	})
}

func TestServerDuplicateHeaders(t *testing.T) {
	srv := apnstest.NewServer(t)
	k := srv.NewKey(t)
	dev := newToken(t)
	srv.AddDevice(dev, topic)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+"/3/device/"+dev, strings.NewReader(goodBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("authorization", "bearer "+k.JWT(time.Now()))
	req.Header.Set("apns-push-type", "alert")
	req.Header.Add("apns-topic", topic)
	req.Header.Add("apns-topic", topic)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Reason string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || body.Reason != apnstest.ReasonDuplicateHeaders {
		t.Fatalf("answered %d %q, want 400 DuplicateHeaders", resp.StatusCode, body.Reason)
	}
}

func TestServerInject(t *testing.T) {
	srv := apnstest.NewServer(t)
	k := srv.NewKey(t)
	dev := newToken(t)
	srv.AddDevice(dev, topic)
	h := map[string]string{"authorization": "bearer " + k.JWT(time.Now()), "apns-topic": topic, "apns-push-type": "alert"}

	srv.Inject(2, apnstest.Answer{Status: 503, Reason: apnstest.ReasonServiceUnavailable, RetryAfter: "30"})
	// A request refused for its own reason leaves the injected answers queued.
	if a := post(t, srv, http.MethodPost, "/3/device/"+dev, h, ""); a.reason != apnstest.ReasonPayloadEmpty {
		t.Fatalf("answered %d %q, want PayloadEmpty", a.status, a.reason)
	}
	if n := srv.Pending(); n != 2 {
		t.Fatalf("%d answers pending, want 2", n)
	}
	for range 2 {
		a := post(t, srv, http.MethodPost, "/3/device/"+dev, h, goodBody)
		if a.status != 503 || a.reason != apnstest.ReasonServiceUnavailable || a.header.Get("Retry-After") != "30" {
			t.Fatalf("answered %d %q Retry-After %q, want the injected 503", a.status, a.reason, a.header.Get("Retry-After"))
		}
	}
	if a := post(t, srv, http.MethodPost, "/3/device/"+dev, h, goodBody); a.status != 200 {
		t.Fatalf("answered %d %q after the injected answers, want 200", a.status, a.reason)
	}
	if n := len(srv.Accepted()); n != 1 {
		t.Fatalf("%d accepted, want 1", n)
	}
}

func TestGenerateKey(t *testing.T) {
	k, err := apnstest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k.KeyID) != 10 || len(k.TeamID) != 10 || !bytes.HasPrefix(k.P8, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Fatalf("key id %q, team id %q, p8 %.30q", k.KeyID, k.TeamID, k.P8)
	}
}
