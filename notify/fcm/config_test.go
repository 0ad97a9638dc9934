package fcm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify/fcm"
	"github.com/ringchat/ringchat/notify/fcm/fcmtest"
)

func TestNewValidates(t *testing.T) {
	srv := fcmtest.NewServer(t)
	creds := srv.NewServiceAccount(project)
	privateKey := keyField(t, creds, "private_key")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	// A bad key that is still PEM: its base64 must not show in the error.
	badPEM := "-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVUU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n"

	for _, c := range []struct {
		name string
		cfg  fcm.Config
		want string // in the error
	}{
		{"empty", fcm.Config{}, "empty"},
		{"not JSON", fcm.Config{CredentialsJSON: append(append([]byte{}, creds...), 'x')}, "not valid JSON"},
		{"not an object", fcm.Config{CredentialsJSON: []byte(`["service_account"]`)}, "not a key file"},
		{"user credentials", fcm.Config{CredentialsJSON: withKey(t, creds, map[string]any{"type": "authorized_user"})}, `"authorized_user"`},
		{"no client_email", fcm.Config{CredentialsJSON: withKey(t, creds, map[string]any{"client_email": nil})}, "client_email"},
		{"no private_key", fcm.Config{CredentialsJSON: withKey(t, creds, map[string]any{"private_key": nil})}, "private_key"},
		{"no token_uri", fcm.Config{CredentialsJSON: withKey(t, creds, map[string]any{"token_uri": nil})}, "token_uri"},
		{"bad private_key", fcm.Config{CredentialsJSON: withKey(t, creds, map[string]any{"private_key": badPEM})}, "RSA private key"},
		{"EC private_key", fcm.Config{CredentialsJSON: withKey(t, creds, map[string]any{
			"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})),
		})}, "not an RSA key"},
		{"http token_uri", fcm.Config{CredentialsJSON: withKey(t, creds, map[string]any{"token_uri": "http://oauth2.googleapis.com/token"})}, "token_uri"},
		{"no project", fcm.Config{CredentialsJSON: withKey(t, creds, map[string]any{"project_id": nil})}, "project id"},
		{"bad project", fcm.Config{CredentialsJSON: creds, ProjectID: "a/../b"}, "project id"},
		{"http endpoint", fcm.Config{CredentialsJSON: creds, Endpoint: "http://fcm.googleapis.com"}, "endpoint"},
		{"negative timeout", fcm.Config{CredentialsJSON: creds, Timeout: -time.Second}, "negative"},
	} {
		_, err := fcm.New(context.Background(), c.cfg)
		if err == nil {
			t.Errorf("%s: New succeeded", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "fcm: ") {
			t.Errorf("%s: error %q, want one about %q", c.name, msg, c.want)
		}
		for _, secret := range []string{"PRIVATE KEY", privateKey[40:80], "U0VDUkVU"} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: error %q quotes the private key", c.name, msg)
			}
		}
	}

	if _, err := fcm.New(context.Background(), fcm.Config{CredentialsJSON: creds}); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
