package webpush

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// GenerateKeys makes a VAPID key pair for an operator's config, in the form
// webpush-go's GenerateVAPIDKeys makes: unpadded base64url of the 65-byte
// uncompressed P-256 public point and of the 32-byte private scalar.
func GenerateKeys() (publicKey, privateKey string, err error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("webpush: generate VAPID key: %w", err)
	}
	return b64(k.PublicKey().Bytes()), b64(k.Bytes()), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decodeBase64URL decodes base64url with or without padding. The standard
// alphabet ('+', '/') is refused: the Push API hands out base64url, so
// anything else is a client bug worth surfacing.
func decodeBase64URL(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.HasSuffix(s, "=") {
		return base64.URLEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// parsePublicKey checks that s is an uncompressed P-256 point on the curve.
func parsePublicKey(s string) (*ecdh.PublicKey, error) {
	b, err := decodeBase64URL(s)
	if err != nil {
		return nil, fmt.Errorf("not base64url: %w", err)
	}
	if len(b) != 65 || b[0] != 4 {
		return nil, fmt.Errorf("want a 65-byte uncompressed P-256 point, got %d bytes", len(b))
	}
	k, err := ecdh.P256().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("not a P-256 point: %w", err)
	}
	return k, nil
}

// vapidKeys validates the configured pair and returns both re-encoded as
// unpadded base64url, the form webpush-go decodes without guessing.
func vapidKeys(public, private string) (pub, priv string, err error) {
	pk, err := parsePublicKey(public)
	if err != nil {
		return "", "", fmt.Errorf("VAPIDPublicKey: %w", err)
	}
	b, err := decodeBase64URL(private)
	if err != nil {
		return "", "", fmt.Errorf("VAPIDPrivateKey: not base64url: %w", err)
	}
	if len(b) != 32 {
		return "", "", fmt.Errorf("VAPIDPrivateKey: want a 32-byte P-256 scalar, got %d bytes", len(b))
	}
	sk, err := ecdh.P256().NewPrivateKey(b)
	if err != nil {
		return "", "", fmt.Errorf("VAPIDPrivateKey: not a P-256 private key: %w", err)
	}
	// A mismatched pair signs JWTs that the k= parameter cannot verify: every
	// push would be refused with 401, so catch it at startup.
	if !bytes.Equal(sk.PublicKey().Bytes(), pk.Bytes()) {
		return "", "", errors.New("VAPIDPublicKey does not belong to VAPIDPrivateKey")
	}
	return b64(pk.Bytes()), b64(sk.Bytes()), nil
}
