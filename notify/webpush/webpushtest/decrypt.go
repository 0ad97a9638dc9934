package webpushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// headerLen is the aes128gcm header (RFC 8188 §2.1) as RFC 8291 §4 fixes
// it: salt (16), record size (4), key id length (1), the application
// server's ephemeral public key (65).
const headerLen = 16 + 4 + 1 + 65

// decrypt is the user agent's side of RFC 8291: it derives the content
// encryption key and nonce from ECDH(ua_private, as_public), the auth secret
// and the salt, opens the single record and strips its padding.
func decrypt(body []byte, uaPriv *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < headerLen {
		return nil, fmt.Errorf("body of %d bytes is shorter than the %d-byte header", len(body), headerLen)
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	if idlen := body[20]; idlen != 65 {
		return nil, fmt.Errorf("key id of %d bytes: want the 65-byte sender key", idlen)
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21:headerLen])
	if err != nil {
		return nil, fmt.Errorf("key id: %w", err)
	}
	record := body[headerLen:]
	if rs < 18 {
		return nil, fmt.Errorf("record size %d below 18", rs)
	}
	// RFC 8291 §4: one record only.
	if uint64(len(record)) > uint64(rs) {
		return nil, fmt.Errorf("%d bytes of records with rs %d: want a single record", len(record), rs)
	}
	if len(record) < 17 {
		return nil, errors.New("record shorter than tag and delimiter")
	}
	secret, err := uaPriv.ECDH(asPub)
	if err != nil {
		return nil, fmt.Errorf("ecdh: %w", err)
	}
	// RFC 8291 §3.4: key_info = "WebPush: info" || 0x00 || ua_public || as_public.
	keyInfo := append([]byte("WebPush: info\x00"), uaPriv.PublicKey().Bytes()...)
	keyInfo = append(keyInfo, asPub.Bytes()...)
	ikm, err := expand(secret, auth, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	// RFC 8188 §2.2 and §2.3.
	cek, err := expand(ikm, salt, []byte("Content-Encoding: aes128gcm\x00"), 16)
	if err != nil {
		return nil, err
	}
	nonce, err := expand(ikm, salt, []byte("Content-Encoding: nonce\x00"), 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	// The first record's sequence number is 0, so its nonce is NONCE itself.
	padded, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, fmt.Errorf("record does not decrypt: %w", err)
	}
	// Plaintext || 0x02 || 0x00*: the last record's delimiter is 2.
	i := len(padded) - 1
	for i >= 0 && padded[i] == 0 {
		i--
	}
	if i < 0 || padded[i] != 2 {
		return nil, errors.New("padding: want the last record's 0x02 delimiter")
	}
	return padded[:i], nil
}

// expand is HKDF-SHA-256 (extract with salt, then expand info to n bytes).
func expand(secret, salt, info []byte, n int) ([]byte, error) {
	out := make([]byte, n)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, salt, info), out); err != nil {
		return nil, fmt.Errorf("hkdf: %w", err)
	}
	return out, nil
}
