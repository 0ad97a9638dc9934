package webpushtest

import (
	"crypto/ecdh"
	"encoding/base64"
	"testing"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

// The example of RFC 8291 Appendix A, line breaks removed.
const (
	rfcUAPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfcUAPublic  = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfcAuth      = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcBody      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
	rfcPlain     = "When I grow up, I want to be a watermelon"
)

// TestDecryptRFC8291 holds the server's decryption to the RFC's own vector,
// so that it does not merely agree with the encrypter under test.
func TestDecryptRFC8291(t *testing.T) {
	priv, err := ecdh.P256().NewPrivateKey(b64(t, rfcUAPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()); got != rfcUAPublic {
		t.Fatalf("ua_public = %s, want the RFC's", got)
	}
	body := b64(t, rfcBody)
	got, err := decrypt(body, priv, b64(t, rfcAuth))
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if string(got) != rfcPlain {
		t.Fatalf("plaintext = %q, want %q", got, rfcPlain)
	}

	// Every byte matters: the header feeds the key schedule, the record the tag.
	for _, i := range []int{0, 15, 20, 30, headerLen, len(body) - 1} {
		bad := append([]byte(nil), body...)
		bad[i] ^= 1
		if _, err := decrypt(bad, priv, b64(t, rfcAuth)); err == nil {
			t.Errorf("byte %d flipped: decrypt succeeded", i)
		}
	}
	wrongAuth := b64(t, rfcAuth)
	wrongAuth[0] ^= 1
	if _, err := decrypt(body, priv, wrongAuth); err == nil {
		t.Error("wrong auth secret: decrypt succeeded")
	}
	if _, err := decrypt(body[:headerLen+16], priv, b64(t, rfcAuth)); err == nil {
		t.Error("truncated record: decrypt succeeded")
	}
}

func TestCheckSubject(t *testing.T) {
	for sub, ok := range map[string]bool{
		"mailto:ops@ringchat.test":        true,
		"https://ringchat.test/contact":   true,
		"mailto:mailto:ops@ringchat.test": false,
		"ops@ringchat.test":               false,
		"http://ringchat.test":            false,
		"mailto:":                         false,
		"mailto:Ops <ops@ringchat.test>":  false,
		"https:///nohost":                 false,
		"":                                false,
	} {
		if err := checkSubject(sub); (err == nil) != ok {
			t.Errorf("checkSubject(%q) = %v, want ok=%v", sub, err, ok)
		}
	}
}

func TestValidTopic(t *testing.T) {
	for topic, ok := range map[string]bool{
		"abc-DEF_123":                       true,
		"01234567890123456789012345678901":  true,
		"012345678901234567890123456789012": false,
		"a+b":                               false,
		"a=":                                false,
		"":                                  false,
	} {
		if validTopic(topic) != ok {
			t.Errorf("validTopic(%q) = %v", topic, !ok)
		}
	}
}
