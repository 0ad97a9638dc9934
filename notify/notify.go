// Package notify reaches a user's devices that hold no live socket: the push
// targets they register (FCM, APNs, Web Push, or an integration's webhook), the
// notifications a message makes for them, and the providers that carry them.
//
// A provider is a Sender. Each lives in its own package (notify/fcm,
// notify/apns, notify/webpush, notify/webhook) with a local server in its
// test package that speaks the provider's wire protocol and checks what the
// real one checks, because the real services cannot be reached from the
// machines ringchat is tested on.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind names a push target's protocol; it is the value clients send.
type Kind string

const (
	KindFCM     Kind = "fcm"
	KindAPNs    Kind = "apns"
	KindWebPush Kind = "webpush"
	KindWebhook Kind = "webhook"
)

// Target is one device's registered push destination. Which fields are set
// depends on Kind; Validate says which.
type Target struct {
	Kind Kind
	// Token is the FCM registration token, or the APNs device token (hex).
	Token string
	// Topic is the APNs topic: the app's bundle id.
	Topic string
	// Sandbox sends an APNs notification to Apple's development environment.
	Sandbox bool
	// Endpoint is the Web Push subscription's endpoint, or the webhook's URL.
	Endpoint string
	// P256DH and Auth are the Web Push subscription's keys (base64url, RFC 8291).
	P256DH string
	Auth   string
	// Secret signs webhook deliveries (Standard Webhooks, "whsec_" + base64);
	// chatd makes it when the target is registered.
	Secret string
}

// Notification is one notice for one device: the messages of one burst in one
// conversation, coalesced.
type Notification struct {
	// ID is stable for the burst on that device, so a retry carries the same
	// one (the webhook-id, the APNs apns-id, the Web Push topic's basis).
	ID             string
	UserID         string
	DeviceID       string
	ConversationID string
	// CollapseKey makes a newer notice replace an older one on the device
	// (FCM collapse_key, APNs apns-collapse-id and thread-id, Web Push Topic).
	CollapseKey string
	// Event is what happened: "message", "mention" or "added".
	Event string
	// MessageID is the newest message of the burst.
	MessageID string
	Title     string
	// Body is a preview of the newest message, or "New message" when the
	// user or the conversation asks for no previews.
	Body string
	// Count is how many messages the notice stands for.
	Count int
	// Badge is the user's unread total.
	Badge int
	// TTL is how long a provider may hold the notice for an unreachable device.
	TTL  time.Duration
	Sent time.Time
}

// Sender delivers notifications through one provider.
type Sender interface {
	Kind() Kind
	// Send delivers n to t. Its error is nil, ErrGone, a *RetryAfterError, a
	// *PermanentError, or anything else (a transient failure, retried with
	// backoff).
	Send(ctx context.Context, t Target, n Notification) error
}

// ErrGone says the provider no longer knows the target (FCM UNREGISTERED,
// APNs 410, Web Push 404 or 410, a webhook answering 410): it is removed.
var ErrGone = errors.New("notify: push target gone")

// RetryAfterError says the provider asked to be called again no sooner than
// After (HTTP 429 or 503 with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("notify: retry after %s: %v", e.After, e.Err)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// PermanentError says retrying cannot help (the provider refused the request
// itself: a bad payload, a wrong topic, bad credentials): the notice is
// dead-lettered at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "notify: permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// OnlineSet is one user's devices holding a live socket on any node. All:
// every device counts as connected (a route that names none).
type OnlineSet struct {
	All     bool
	Devices []int64
}

// Has reports whether device holds a live socket.
func (s OnlineSet) Has(device int64) bool {
	if s.All {
		return true
	}
	for _, d := range s.Devices {
		if d == device {
			return true
		}
	}
	return false
}
