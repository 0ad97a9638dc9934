package fcm

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// serviceAccount is the part of a Google service-account key file used here.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// parseServiceAccount checks a key file. Its errors never quote the file,
// which holds the private key.
func parseServiceAccount(b []byte) (*serviceAccount, error) {
	if len(b) == 0 {
		return nil, errors.New("CredentialsJSON is empty")
	}
	var k serviceAccount
	if err := json.Unmarshal(b, &k); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// A syntax error's message quotes a character of the input.
			return nil, fmt.Errorf("not valid JSON (at byte %d)", se.Offset)
		}
		return nil, fmt.Errorf("not a key file: %w", err)
	}
	if k.Type != "service_account" {
		return nil, fmt.Errorf("type is %q, not \"service_account\"", k.Type)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"client_email", k.ClientEmail}, {"private_key", k.PrivateKey}, {"token_uri", k.TokenURI},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no %s", strings.Join(missing, ", "))
	}
	if !strings.Contains(k.ClientEmail, "@") {
		return nil, fmt.Errorf("client_email %q is not an email address", k.ClientEmail)
	}
	if err := checkRSAKey(k.PrivateKey); err != nil {
		return nil, fmt.Errorf("private_key (id %q): %w", k.PrivateKeyID, err)
	}
	if err := checkHTTPS(k.TokenURI); err != nil {
		return nil, fmt.Errorf("token_uri: %w", err)
	}
	return &k, nil
}

// checkRSAKey accepts what oauth2's JWT signer can use: a PEM (or bare DER)
// PKCS #8 or PKCS #1 RSA key. The parsers' errors describe structure only.
func checkRSAKey(s string) error {
	der := []byte(s)
	if block, _ := pem.Decode(der); block != nil {
		der = block.Bytes
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			return errors.New("not a PEM-encoded PKCS #8 or PKCS #1 RSA private key")
		}
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("a %T, not an RSA key", key)
	}
	return nil
}
