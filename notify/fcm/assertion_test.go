package fcm_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ringchat/ringchat/notify/fcm"
	"github.com/ringchat/ringchat/notify/fcm/fcmtest"
)

// The token endpoint is tested with hand-made assertions, so that a server
// that accepted anything could not pass the client's tests unnoticed.
func TestTokenEndpointChecksAssertions(t *testing.T) {
	srv := fcmtest.NewServer(t)
	creds := srv.NewServiceAccount(project)
	block, _ := pem.Decode([]byte(keyField(t, creds, "private_key")))
	if block == nil {
		t.Fatal("the key file's private_key is not PEM")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := parsed.(*rsa.PrivateKey)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	email, kid := keyField(t, creds, "client_email"), keyField(t, creds, "private_key_id")
	now := time.Now()

	// assertion signs claims (the valid ones, changed by edit) with the
	// account's key unless edit says otherwise.
	assertion := func(edit func(c jwt.MapClaims, h map[string]any) (jwt.SigningMethod, any)) string {
		c := jwt.MapClaims{
			"iss":   email,
			"scope": fcm.Scope,
			"aud":   srv.TokenURL(),
			"iat":   now.Unix(),
			"exp":   now.Add(time.Hour).Unix(),
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = kid
		var signKey any = key
		if edit != nil {
			if m, k := edit(c, tok.Header); m != nil {
				tok.Method, tok.Header["alg"], signKey = m, m.Alg(), k
			}
		}
		s, err := tok.SignedString(signKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claim := func(name string, v any) func(jwt.MapClaims, map[string]any) (jwt.SigningMethod, any) {
		return func(c jwt.MapClaims, _ map[string]any) (jwt.SigningMethod, any) {
			if v == nil {
				delete(c, name)
			} else {
				c[name] = v
			}
			return nil, nil
		}
	}

	if status, body := postToken(t, srv, "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(nil)); status != 200 || body["access_token"] == "" || body["token_type"] != "Bearer" {
		t.Fatalf("a valid assertion: %d %v", status, body)
	}
	for name, edit := range map[string]func(jwt.MapClaims, map[string]any) (jwt.SigningMethod, any){
		"wrong audience": claim("aud", "https://oauth2.googleapis.com/token"),
		"two audiences":  claim("aud", []string{srv.TokenURL(), "https://example.com"}),
		"no audience":    claim("aud", nil),
		"unknown issuer": claim("iss", "someone@"+project+".iam.gserviceaccount.com"),
		"other scope":    claim("scope", "https://www.googleapis.com/auth/cloud-platform"),
		"no scope":       claim("scope", nil),
		"expired": func(c jwt.MapClaims, _ map[string]any) (jwt.SigningMethod, any) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
			return nil, nil
		},
		"issued in future":    claim("iat", now.Add(10*time.Minute).Unix()),
		"longer than an hour": claim("exp", now.Add(2*time.Hour).Unix()),
		"no exp":              claim("exp", nil),
		"no iat":              claim("iat", nil),
		"wrong key":           func(jwt.MapClaims, map[string]any) (jwt.SigningMethod, any) { return jwt.SigningMethodRS256, other },
		"wrong kid":           func(_ jwt.MapClaims, h map[string]any) (jwt.SigningMethod, any) { h["kid"] = "0123"; return nil, nil },
		"RS512":               func(jwt.MapClaims, map[string]any) (jwt.SigningMethod, any) { return jwt.SigningMethodRS512, key },
		"HS256 with the public key": func(jwt.MapClaims, map[string]any) (jwt.SigningMethod, any) {
			pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
			return jwt.SigningMethodHS256, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
		},
		"alg none": func(jwt.MapClaims, map[string]any) (jwt.SigningMethod, any) {
			return jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
		},
	} {
		if status, body := postToken(t, srv, "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(edit)); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v, want 400 invalid_grant", name, status, body)
		}
	}
	if status, body := postToken(t, srv, "client_credentials", assertion(nil)); status != 400 || body["error"] != "unsupported_grant_type" {
		t.Errorf("wrong grant_type: %d %v", status, body)
	}
	if status, _ := postToken(t, srv, "urn:ietf:params:oauth:grant-type:jwt-bearer", "not.a.jwt"); status != 400 {
		t.Errorf("garbage assertion: %d", status)
	}
	resp, err := srv.Client().Get(srv.TokenURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	if got, want := srv.TokenRequests(), 1+16+3; got != want {
		t.Errorf("TokenRequests = %d, want %d", got, want)
	}
}

func postToken(t *testing.T, srv *fcmtest.Server, grant, assertion string) (int, map[string]any) {
	t.Helper()
	resp, err := srv.Client().PostForm(srv.TokenURL(), url.Values{"grant_type": {grant}, "assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("token endpoint answered %d %q", resp.StatusCode, b)
	}
	if resp.StatusCode != 200 && !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("error answer's Content-Type = %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, body
}
