package webpushtest

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// maxExp is how far ahead a VAPID token may expire (RFC 8292 §2).
const maxExp = 24 * time.Hour

type vapidClaims struct {
	sub string
	key string // the k parameter, as sent
	exp time.Time
}

// verifyVAPID checks an "Authorization: vapid t=<JWT>, k=<key>" header
// (RFC 8292 §3): an ES256 JWT that k verifies, for this origin, expiring
// within 24 hours, from a mailto: or https: contact. It returns the claims and
// the decoded key.
func verifyVAPID(header, origin string, now time.Time) (vapidClaims, []byte, error) {
	scheme, params, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "vapid") {
		return vapidClaims{}, nil, fmt.Errorf("authorization scheme %q: want vapid", scheme)
	}
	var token, k string
	for _, p := range strings.Split(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "t":
			token = strings.TrimSpace(value)
		case "k":
			k = strings.TrimSpace(value)
		}
	}
	if token == "" || k == "" {
		return vapidClaims{}, nil, errors.New("want both t= and k=")
	}
	pub, err := decodeKey(k)
	if err != nil {
		return vapidClaims{}, nil, fmt.Errorf("k: %w", err)
	}
	c, err := verifyJWT(token, pub, origin, now)
	if err != nil {
		return vapidClaims{}, nil, err
	}
	c.key = k
	return c, pub.Bytes(), nil
}

func verifyJWT(token string, pub *ecdh.PublicKey, origin string, now time.Time) (vapidClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return vapidClaims{}, errors.New("JWT: want header.claims.signature")
	}
	var hdr struct{ Alg, Typ string }
	if err := decodeJSONPart(parts[0], &hdr); err != nil {
		return vapidClaims{}, fmt.Errorf("JWT header: %w", err)
	}
	if hdr.Alg != "ES256" || (hdr.Typ != "" && !strings.EqualFold(hdr.Typ, "JWT")) {
		return vapidClaims{}, fmt.Errorf("JWT header alg %q typ %q: want ES256 JWT", hdr.Alg, hdr.Typ)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return vapidClaims{}, errors.New("JWT signature: want 64 bytes r||s in base64url")
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub.Bytes())
	if err != nil {
		return vapidClaims{}, fmt.Errorf("k: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(key, digest[:], r, s) {
		return vapidClaims{}, errors.New("JWT signature does not verify with k")
	}
	var claims struct {
		Aud any         `json:"aud"`
		Exp json.Number `json:"exp"`
		Sub string      `json:"sub"`
	}
	if err := decodeJSONPart(parts[1], &claims); err != nil {
		return vapidClaims{}, fmt.Errorf("JWT claims: %w", err)
	}
	if aud, ok := claims.Aud.(string); !ok || aud != origin {
		return vapidClaims{}, fmt.Errorf("JWT aud %v: want %q", claims.Aud, origin)
	}
	expf, err := claims.Exp.Float64()
	if err != nil || math.IsNaN(expf) || math.IsInf(expf, 0) {
		return vapidClaims{}, fmt.Errorf("JWT exp %q: want a NumericDate", claims.Exp)
	}
	// Compare as numbers first: a huge exp must not overflow into the past.
	left := expf - float64(now.Unix())
	exp := time.Unix(int64(math.Min(expf, float64(now.Add(2*maxExp).Unix()))), 0)
	if left <= 0 {
		return vapidClaims{}, fmt.Errorf("JWT expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if left > maxExp.Seconds() {
		return vapidClaims{}, fmt.Errorf("JWT exp %v is more than 24h ahead", claims.Exp)
	}
	if err := checkSubject(claims.Sub); err != nil {
		return vapidClaims{}, fmt.Errorf("JWT sub %q: %w", claims.Sub, err)
	}
	return vapidClaims{sub: claims.Sub, exp: exp}, nil
}

// checkSubject wants a mailto: URI with one bare address, or an https: URL.
func checkSubject(sub string) error {
	u, err := url.Parse(sub)
	if err != nil {
		return errors.New("not a URI")
	}
	switch u.Scheme {
	case "mailto":
		if a, err := mail.ParseAddress(u.Opaque); err != nil || a.Address != u.Opaque {
			return errors.New("want mailto: and one bare e-mail address")
		}
	case "https":
		if u.Host == "" {
			return errors.New("https: URL without a host")
		}
	default:
		return errors.New("want a mailto: or https: URI")
	}
	return nil
}

func decodeJSONPart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return fmt.Errorf("not unpadded base64url: %w", err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

// decodeKey decodes a base64url (padded or not) uncompressed P-256 point.
func decodeKey(s string) (*ecdh.PublicKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("not base64url: %w", err)
	}
	k, err := ecdh.P256().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("not an uncompressed P-256 point: %w", err)
	}
	return k, nil
}
