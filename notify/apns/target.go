package apns

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ringchat/ringchat/notify"
)

// maxCollapseID is Apple's limit on apns-collapse-id, in bytes.
const maxCollapseID = 64

// maxTopic bounds a bundle id (with a ".voip"-style suffix).
const maxTopic = 255

// apnsIDName prefixes Notification.ID in the name of its apns-id, so that
// this package's UUIDs are its own.
const apnsIDName = "ringchat/notify/apns:"

// checkTarget refuses, before any network call, a target APNs would refuse.
func checkTarget(t notify.Target) error {
	if t.Kind != "" && t.Kind != notify.KindAPNs {
		return &notify.PermanentError{Err: fmt.Errorf("apns: target kind %q is not %q", t.Kind, notify.KindAPNs)}
	}
	if err := checkDeviceToken(t.Token); err != nil {
		return &notify.PermanentError{Err: err}
	}
	if err := checkTopic(t.Topic); err != nil {
		return &notify.PermanentError{Err: err}
	}
	return nil
}

// checkDeviceToken wants hex, whole bytes, 32 to 100 of them (Apple's are 32
// today and documented as variable length).
func checkDeviceToken(tok string) error {
	if len(tok) < 64 || len(tok) > 200 || len(tok)%2 != 0 {
		return fmt.Errorf("apns: device token has %d characters, want an even number from 64 to 200", len(tok))
	}
	for i := range len(tok) {
		if !isHex(tok[i]) {
			return fmt.Errorf("apns: device token has a non-hex character at %d", i)
		}
	}
	return nil
}

// checkTopic wants a bundle id: letters, digits, '.', '-' and '_'.
func checkTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("apns: topic (the app's bundle id) is empty")
	}
	if len(topic) > maxTopic {
		return fmt.Errorf("apns: topic has %d bytes, more than %d", len(topic), maxTopic)
	}
	for _, c := range []byte(topic) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("apns: topic %q is not a bundle id", topic)
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// apnsID is the apns-id for a notification: a name-based (SHA-1) UUID of its
// ID, so that a retry carries the same one. An empty ID gets none, and APNs
// makes one up.
func apnsID(id string) string {
	if id == "" {
		return ""
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(apnsIDName+id)).String()
}

// collapseID is key when it fits Apple's 64 bytes, or else a hash of it: two
// long keys that share 64 bytes must still collapse separately.
func collapseID(key string) string {
	if len(key) <= maxCollapseID {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// expiration is the apns-expiration for ttl: now+ttl rounded up to a whole
// second, or the Unix epoch for no TTL. apns2 leaves the header out for a
// time not after the epoch, which would let APNs store the notice by its own
// policy; one nanosecond past the epoch still formats as "0" ("deliver once
// or drop").
func expiration(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Unix(0, 1)
	}
	exp := now.Add(ttl)
	if exp.Nanosecond() != 0 {
		exp = exp.Truncate(time.Second).Add(time.Second)
	}
	return exp
}
