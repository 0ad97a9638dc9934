package fcmtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// account is a service account's public half: all Google keeps.
type account struct {
	email   string
	project string
	keyID   string
	pub     *rsa.PublicKey
}

// NewServiceAccount makes a service account of projectID with a new RSA key
// and returns its key file, as the Google Cloud console would hand it out;
// its token_uri is this server's token endpoint.
func (s *Server) NewServiceAccount(projectID string) []byte {
	if projectID == "" || strings.ContainsAny(projectID, "/ ") {
		panic(fmt.Sprintf("fcmtest: bad project id %q", projectID))
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("fcmtest: generating an RSA key: %v", err))
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(fmt.Sprintf("fcmtest: encoding the RSA key: %v", err))
	}
	a := &account{
		email:   "fcm-" + strings.ToLower(randomHex(4)) + "@" + projectID + ".iam.gserviceaccount.com",
		project: projectID,
		keyID:   randomHex(20),
		pub:     &key.PublicKey,
	}
	s.mu.Lock()
	s.accounts[a.email] = a
	s.mu.Unlock()

	b, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  projectID,
		"private_key_id":              a.keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                a.email,
		"client_id":                   "1" + randomDigits(20),
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   s.TokenURL(),
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + a.email,
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("fcmtest: encoding the key file: %v", err))
	}
	return b
}

// handleToken is Google's token endpoint for the JWT bearer grant (RFC 7523).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenRequests++
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be a form")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "unreadable form: "+err.Error())
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != jwtBearer {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	a, err := s.verifyAssertion(r.PostForm.Get("assertion"), time.Now())
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}

	tok := "ya29.fcmtest." + randomString(48)
	s.mu.Lock()
	life := s.tokenLifetime
	s.tokens[tok] = accessToken{project: a.project, expires: time.Now().Add(life)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int(life / time.Second),
		"token_type":   "Bearer",
	})
}

// assertionClaims are the claims Google reads from a service account's JWT.
type assertionClaims struct {
	Scope string `json:"scope"`
	jwt.RegisteredClaims
}

// verifyAssertion checks a JWT bearer assertion as Google does and returns the
// account it authenticates.
func (s *Server) verifyAssertion(raw string, now time.Time) (*account, error) {
	if raw == "" {
		return nil, errors.New("missing assertion")
	}
	var a *account
	claims := &assertionClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// The claims are not yet verified here: they only pick the key.
		s.mu.Lock()
		a = s.accounts[claims.Issuer]
		s.mu.Unlock()
		if a == nil {
			return nil, fmt.Errorf("no service account %q", claims.Issuer)
		}
		if kid, ok := t.Header["kid"]; ok && kid != a.keyID {
			return nil, fmt.Errorf("kid %v is not the account's key", kid)
		}
		return a.pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, fmt.Errorf("invalid JWT signature or header: %w", err)
	}

	switch {
	case len(claims.Audience) != 1 || claims.Audience[0] != s.TokenURL():
		return nil, fmt.Errorf("invalid JWT: aud %q is not %q", []string(claims.Audience), s.TokenURL())
	case !slices.Contains(strings.Fields(claims.Scope), Scope):
		return nil, fmt.Errorf("invalid JWT: scope %q lacks %s", claims.Scope, Scope)
	case claims.IssuedAt == nil || claims.ExpiresAt == nil:
		return nil, errors.New("invalid JWT: iat and exp are required")
	case claims.IssuedAt.After(now):
		return nil, errors.New("invalid JWT: iat is in the future")
	case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > time.Hour || !claims.ExpiresAt.After(claims.IssuedAt.Time):
		return nil, errors.New("invalid JWT: exp is not within an hour after iat")
	case !claims.ExpiresAt.After(now):
		return nil, errors.New("invalid JWT: it has expired")
	}
	return a, nil
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomString(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))[:n]
}

func randomDigits(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}
