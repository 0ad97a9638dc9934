package apnstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// MaxTokenAge is how old a provider token's iat may be: Apple refuses older
// ones with 403 ExpiredProviderToken.
const MaxTokenAge = time.Hour

// MaxClockSkew is how far in the future an iat may be before the token is
// refused (403 InvalidProviderToken).
const MaxClockSkew = 10 * time.Second

// Key is a provider signing key as Apple's developer account hands it out: a
// P-256 private key in a PKCS #8 .p8 PEM file, its 10-character key id, and
// the team's 10-character id.
type Key struct {
	P8      []byte
	KeyID   string
	TeamID  string
	Private *ecdsa.PrivateKey
}

// GenerateKey makes a fresh P-256 key with random key and team ids.
func GenerateKey() (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("generate P-256 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, fmt.Errorf("marshal PKCS #8 key: %w", err)
	}
	return Key{
		P8:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		KeyID:   rand.Text()[:10],
		TeamID:  rand.Text()[:10],
		Private: priv,
	}, nil
}

// JWT is a provider token for k issued at iat, as Apple specifies it.
func (k Key) JWT(iat time.Time) string {
	tok, err := SignJWT(k.Private,
		map[string]any{"alg": "ES256", "kid": k.KeyID},
		map[string]any{"iss": k.TeamID, "iat": iat.Unix()})
	if err != nil {
		panic(err) // marshalling these maps cannot fail
	}
	return tok
}

// SignJWT signs any header and claims with ES256 (whatever header's alg
// says), so that a test can make the tokens Apple refuses.
func SignJWT(priv *ecdsa.PrivateKey, header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("jwt header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		return "", fmt.Errorf("jwt sign: %w", err)
	}
	sig := make([]byte, 64) // JWS ES256: r and s, 32 bytes each, big-endian
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig), nil
}

// tokenInfo is what a verified provider token says.
type tokenInfo struct {
	keyID, teamID string
	issuedAt      time.Time
}

// verifyToken checks an authorization header as APNs does and returns the
// reason to refuse it with, or "" when it is good. The signature is checked
// before any claim, so that an expired token is only called expired when it
// is genuine.
func (s *Server) verifyToken(authz string, now time.Time) (tokenInfo, string) {
	if authz == "" {
		return tokenInfo{}, ReasonMissingProviderToken
	}
	scheme, tok, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return tokenInfo{}, ReasonInvalidProviderToken
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return tokenInfo{}, ReasonInvalidProviderToken
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if !decodePart(parts[0], &header) || header.Alg != "ES256" {
		return tokenInfo{}, ReasonInvalidProviderToken
	}
	k, ok := s.key(header.Kid)
	if !ok {
		return tokenInfo{}, ReasonInvalidProviderToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return tokenInfo{}, ReasonInvalidProviderToken
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(k.pub, sum[:], r, sv) {
		return tokenInfo{}, ReasonInvalidProviderToken
	}
	var claims struct {
		Iss string          `json:"iss"`
		Iat json.RawMessage `json:"iat"`
	}
	if !decodePart(parts[1], &claims) || claims.Iss != k.teamID {
		return tokenInfo{}, ReasonInvalidProviderToken
	}
	sec, err := strconv.ParseInt(string(claims.Iat), 10, 64) // a JSON integer, not a string
	if err != nil {
		return tokenInfo{}, ReasonInvalidProviderToken
	}
	info := tokenInfo{keyID: header.Kid, teamID: claims.Iss, issuedAt: time.Unix(sec, 0)}
	switch {
	case info.issuedAt.After(now.Add(MaxClockSkew)):
		return info, ReasonInvalidProviderToken
	case info.issuedAt.Before(now.Add(-MaxTokenAge)):
		return info, ReasonExpiredProviderToken
	}
	return info, ""
}

// decodePart decodes one base64url JSON part of a JWT into v.
func decodePart(part string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}
