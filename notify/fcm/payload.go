package fcm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ringchat/ringchat/notify"
)

const (
	// maxPayload is FCM's (and APNs's) limit on a message's payload.
	maxPayload = 4096
	// maxTTL is the longest FCM keeps a message: four weeks.
	maxTTL = 28 * 24 * time.Hour
	// maxCollapseID is APNs's limit on apns-collapse-id.
	maxCollapseID = 64
	ellipsis      = "…"
)

// The v1 API's JSON, only the parts sent.
type (
	sendRequest struct {
		Message message `json:"message"`
	}
	message struct {
		Token        string            `json:"token,omitempty"`
		Notification notification      `json:"notification"`
		Data         map[string]string `json:"data"`
		Android      android           `json:"android"`
		APNs         apns              `json:"apns"`
	}
	notification struct {
		Title string `json:"title,omitempty"`
		Body  string `json:"body,omitempty"`
	}
	android struct {
		CollapseKey  string              `json:"collapse_key,omitempty"`
		TTL          string              `json:"ttl,omitempty"`
		Priority     string              `json:"priority"`
		Notification androidNotification `json:"notification"`
	}
	androidNotification struct {
		Tag               string `json:"tag,omitempty"`
		NotificationCount int    `json:"notification_count,omitempty"`
	}
	apns struct {
		Headers map[string]string `json:"headers,omitempty"`
		Payload apnsPayload       `json:"payload"`
	}
	apnsPayload struct {
		Aps aps `json:"aps"`
	}
	aps struct {
		Badge    int    `json:"badge"` // no omitempty: 0 clears the badge
		ThreadID string `json:"thread-id,omitempty"`
	}
)

// buildMessage makes the request body for n to token, shortened to fit FCM's
// payload limit; now dates the APNs expiration.
func buildMessage(token string, n notify.Notification, now time.Time) ([]byte, error) {
	m := message{
		Notification: notification{Title: n.Title, Body: n.Body},
		Data: map[string]string{
			"conversation_id": n.ConversationID,
			"message_id":      n.MessageID,
			"count":           strconv.Itoa(n.Count),
			"badge":           strconv.Itoa(n.Badge),
			"event":           n.Event,
			"id":              n.ID,
		},
		Android: android{
			CollapseKey:  n.CollapseKey,
			Priority:     "HIGH", // a chat message is for now; NORMAL may wait for a maintenance window
			Notification: androidNotification{Tag: n.CollapseKey, NotificationCount: max(n.Count, 0)},
		},
		APNs: apns{Payload: apnsPayload{Aps: aps{Badge: max(n.Badge, 0), ThreadID: n.CollapseKey}}},
	}
	headers := map[string]string{}
	if n.CollapseKey != "" {
		headers["apns-collapse-id"] = collapseID(n.CollapseKey)
	}
	if ttl := min(n.TTL, maxTTL); ttl > 0 {
		m.Android.TTL = ttlString(ttl)
		// APNs ignores android.ttl; without this FCM would ask it to keep the notice for 30 days.
		headers["apns-expiration"] = strconv.FormatInt(now.Add(ttl).Unix(), 10)
	}
	if len(headers) > 0 {
		m.APNs.Headers = headers
	}

	if err := fit(&m); err != nil {
		return nil, err
	}
	m.Token = token
	return encode(sendRequest{Message: m})
}

// fit shortens the body, then the title, until the payload (the message less
// its token) is within maxPayload.
func fit(m *message) error {
	fits := func() bool {
		b, err := encode(m)
		return err == nil && len(b) <= maxPayload
	}
	if fits() {
		return nil
	}
	// The body gives way first: it is only a preview.
	if shorten(&m.Notification.Body, fits) || shorten(&m.Notification.Title, fits) {
		return nil
	}
	b, _ := encode(m)
	return fmt.Errorf("message is %d bytes with no title or body; FCM allows %d", len(b), maxPayload)
}

// shorten cuts *s to its longest prefix (on a rune boundary, with an
// ellipsis) for which fits holds, and reports whether it found one; if not,
// *s is left empty.
func shorten(s *string, fits func() bool) bool {
	orig := *s
	var cuts []int // rune boundaries, up to what could ever fit
	for i := range orig {
		if i > maxPayload {
			break
		}
		cuts = append(cuts, i)
	}
	try := func(i int) bool {
		*s = strings.TrimRightFunc(orig[:cuts[i]], unicode.IsSpace) + ellipsis
		return fits()
	}
	// The payload grows with the prefix, so the longest that fits is found
	// by bisection: cuts[lo] fits (or lo is -1), cuts[hi] does not.
	lo, hi := -1, len(cuts)
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; try(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo < 0 {
		*s = ""
		return fits()
	}
	try(lo)
	return true
}

// encode is json.Marshal without HTML escaping, which would spend six bytes
// of the payload on each < > &.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding the message: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// collapseID is key when APNs takes it, else a hash of it of the longest
// length it takes (hex SHA-256 is exactly 64 bytes).
func collapseID(key string) string {
	if len(key) <= maxCollapseID {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// ttlString writes d as a protobuf Duration: seconds, up to nine decimals, "s".
func ttlString(d time.Duration) string {
	secs, frac := d/time.Second, d%time.Second
	if frac == 0 {
		return strconv.FormatInt(int64(secs), 10) + "s"
	}
	return strings.TrimRight(fmt.Sprintf("%d.%09d", secs, frac), "0") + "s"
}

// checkToken refuses what no FCM registration token can be, so it is not
// sent (and FCM's 400 mistaken for a bad payload).
func checkToken(t string) error {
	switch {
	case t == "":
		return errors.New("empty")
	case len(t) > 4096:
		return fmt.Errorf("%d bytes, more than 4096", len(t))
	case !utf8.ValidString(t):
		return errors.New("not valid UTF-8")
	}
	if i := strings.IndexFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("whitespace or a control character at byte %d", i)
	}
	return nil
}
