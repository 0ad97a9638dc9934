package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/cmd/internal/flagenv"
	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/apns"
	"github.com/ringchat/ringchat/notify/fcm"
	"github.com/ringchat/ringchat/notify/webhook"
	"github.com/ringchat/ringchat/notify/webpush"
)

// notifyConfig is the notification workers' part of the configuration
// (docs/notifications.md).
type notifyConfig struct {
	kinds    string
	insecure string
	attempts int
	retryMax time.Duration
	lease    time.Duration
	parallel int
	caFile   string // extra roots for the providers' TLS (a private mirror, or tests)

	fcmCredentials, fcmEndpoint                               string
	apnsKey, apnsKeyID, apnsTeamID, apnsEndpoint, apnsSandbox string
	vapidPublic, vapidPrivate, vapidSubject                   string
}

func (n *notifyConfig) flags(fe *flagenv.Set) {
	fe.String(&n.kinds, "push-kinds", "", "push kinds this deployment carries, comma-separated (webhook, fcm, apns, webpush); empty: notifications off, sends write no outbox rows")
	fe.String(&n.insecure, "push-insecure-targets", "false", "testing only: webhook URLs may be http:// and name private addresses")
	fe.Int(&n.attempts, "notify-attempts", 6, "deliveries of one notice before it is dead-lettered")
	fe.Duration(&n.retryMax, "notify-retry-max", time.Minute, "longest wait between deliveries of a notice; a provider's Retry-After above it dead-letters the notice")
	fe.Duration(&n.lease, "notify-lease", 15*time.Second, "an outbox shard whose node stopped renewing is taken over after this")
	fe.Int(&n.parallel, "notify-parallel", 32, "notices in flight per outbox shard")
	fe.String(&n.caFile, "push-ca-file", "", "PEM file of extra CA certificates trusted for FCM, APNs and Web Push endpoints (beside the system roots)")
	fe.String(&n.fcmCredentials, "fcm-credentials-file", "", "FCM: the Firebase project's service-account key file (JSON)")
	fe.String(&n.fcmEndpoint, "fcm-endpoint", "", "FCM: API base URL; empty: https://fcm.googleapis.com")
	fe.String(&n.apnsKey, "apns-key-file", "", "APNs: the .p8 token-signing key from Apple")
	fe.String(&n.apnsKeyID, "apns-key-id", "", "APNs: the key's id")
	fe.String(&n.apnsTeamID, "apns-team-id", "", "APNs: the developer team id")
	fe.String(&n.apnsEndpoint, "apns-endpoint", "", "APNs: host URL; empty: Apple's production host")
	fe.String(&n.apnsSandbox, "apns-sandbox-endpoint", "", "APNs: host URL for development-environment tokens; empty: Apple's development host")
	fe.String(&n.vapidPublic, "vapid-public-key", "", "Web Push: the VAPID public key (base64url), which web clients subscribe with")
	fe.Secret(&n.vapidPrivate, "vapid-private-key", "Web Push: the VAPID private key (base64url)")
	fe.String(&n.vapidSubject, "vapid-subject", "", "Web Push: a mailto: or https: contact for push services")
}

var knownKinds = []string{string(notify.KindWebhook), string(notify.KindFCM), string(notify.KindAPNs), string(notify.KindWebPush)}

// apply checks the flags and sets what the use cases need to know.
func (n *notifyConfig) apply(c *chat.NotifyConfig) error {
	for _, k := range strings.Split(n.kinds, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !slices.Contains(knownKinds, k) {
			return fmt.Errorf("push-kinds: %q is not one of %s", k, strings.Join(knownKinds, ", "))
		}
		c.Kinds = append(c.Kinds, k)
	}
	switch n.insecure {
	case "true", "1":
		c.InsecureTargets = true
	case "false", "0", "":
	default:
		return fmt.Errorf("push-insecure-targets: %q is neither true nor false", n.insecure)
	}
	// Retry rows must be worked before outbox rows expire (a day).
	if n.attempts < 1 || n.retryMax <= 0 || n.retryMax > 12*time.Hour || n.lease < 3*time.Second || n.parallel < 1 {
		return fmt.Errorf("notify-attempts and notify-parallel must be at least 1, notify-retry-max from 1ns to 12h, notify-lease at least 3s")
	}
	return nil
}

// senders builds one sender per configured kind; a kind whose credentials
// are missing or wrong stops chatd at start, not at the first push.
func (n *notifyConfig) senders(ctx context.Context, c chat.NotifyConfig) ([]notify.Sender, error) {
	client, roots, err := n.tlsClient()
	if err != nil {
		return nil, err
	}
	var out []notify.Sender
	for _, k := range c.Kinds {
		var s notify.Sender
		switch notify.Kind(k) {
		case notify.KindWebhook:
			s = webhook.New(webhook.Config{AllowPrivate: c.InsecureTargets})
		case notify.KindFCM:
			key, rerr := os.ReadFile(n.fcmCredentials)
			if rerr != nil {
				return nil, fmt.Errorf("fcm-credentials-file: %w", rerr)
			}
			s, err = fcm.New(ctx, fcm.Config{CredentialsJSON: key, Endpoint: n.fcmEndpoint, HTTPClient: client})
		case notify.KindAPNs:
			key, rerr := os.ReadFile(n.apnsKey)
			if rerr != nil {
				return nil, fmt.Errorf("apns-key-file: %w", rerr)
			}
			s, err = apns.New(apns.Config{KeyP8: key, KeyID: n.apnsKeyID, TeamID: n.apnsTeamID, Endpoint: n.apnsEndpoint,
				SandboxEndpoint: n.apnsSandbox, RootCAs: roots})
		case notify.KindWebPush:
			s, err = webpush.New(webpush.Config{VAPIDPublicKey: n.vapidPublic, VAPIDPrivateKey: n.vapidPrivate, Subject: n.vapidSubject,
				HTTPClient: client, AllowPrivateEndpoints: c.InsecureTargets})
		}
		if err != nil {
			return nil, fmt.Errorf("push kind %s: %w", k, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// tlsClient is the providers' HTTP client: the system roots plus --push-ca-file.
func (n *notifyConfig) tlsClient() (*http.Client, *x509.CertPool, error) {
	if n.caFile == "" {
		return nil, nil, nil
	}
	pem, err := os.ReadFile(n.caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("push-ca-file: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("push-ca-file: no certificate in %s", n.caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, roots, nil
}
