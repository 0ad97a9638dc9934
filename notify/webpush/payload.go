package webpush

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/ringchat/ringchat/notify"
)

// MaxPayload is the largest plaintext that fits one aes128gcm record of the
// 4096 bytes push services accept. webpush-go writes a 86-byte header (16
// salt, 4 record size, 1 key length, 65 key), appends the 0x02 padding
// delimiter and pads to the record size; the record holds a 16-byte GCM tag:
// 4096 - 86 - 16 - 1 = 3993.
const MaxPayload = 4096 - 86 - 16 - 1

// ErrPayloadTooLarge is wrapped (inside a *notify.PermanentError) when a
// notice does not fit even with its body and title cut to an ellipsis.
var ErrPayloadTooLarge = errors.New("webpush: payload too large")

const ellipsis = "…"

// Payload is the JSON the service worker receives.
type Payload struct {
	Title          string `json:"title"`
	Body           string `json:"body"`
	ConversationID string `json:"conversation_id"`
	MessageID      string `json:"message_id"`
	Count          int    `json:"count"`
	Badge          int    `json:"badge"`
	Event          string `json:"event"`
	ID             string `json:"id"`
}

// encodePayload marshals n, shortening the body (then the title) until the
// JSON fits MaxPayload.
func encodePayload(n notify.Notification) ([]byte, error) {
	p := Payload{
		Title:          strings.ToValidUTF8(n.Title, "\uFFFD"),
		Body:           strings.ToValidUTF8(n.Body, "\uFFFD"),
		ConversationID: n.ConversationID,
		MessageID:      n.MessageID,
		Count:          n.Count,
		Badge:          n.Badge,
		Event:          n.Event,
		ID:             n.ID,
	}
	b, err := marshal(p)
	if err != nil || len(b) <= MaxPayload {
		return b, err
	}
	for _, field := range []*string{&p.Body, &p.Title} {
		if b, ok := shorten(&p, field); ok {
			return b, nil
		}
	}
	if b, err = marshal(p); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %d bytes of JSON with body and title cut, limit %d", ErrPayloadTooLarge, len(b), MaxPayload)
}

// shorten cuts *field to the longest rune-boundary prefix (plus an ellipsis)
// with which p fits, unless it fits whole. The JSON length grows with the
// prefix, so a binary search over the rune boundaries finds it. When nothing
// fits, *field is left as the ellipsis alone.
func shorten(p *Payload, field *string) ([]byte, bool) {
	full := *field
	if full == "" {
		return nil, false
	}
	if b, err := marshal(*p); err == nil && len(b) <= MaxPayload {
		return b, true
	}
	cuts := make([]int, 0, len(full))
	for i := range full {
		cuts = append(cuts, i)
	}
	tooLong := sort.Search(len(cuts), func(k int) bool {
		*field = cut(full, cuts[k])
		b, err := marshal(*p)
		return err != nil || len(b) > MaxPayload
	})
	if tooLong == 0 {
		*field = ellipsis
		return nil, false
	}
	*field = cut(full, cuts[tooLong-1])
	b, err := marshal(*p)
	return b, err == nil && len(b) <= MaxPayload
}

// cut keeps s[:i] without trailing spaces and marks the cut.
func cut(s string, i int) string {
	return strings.TrimRightFunc(s[:i], unicode.IsSpace) + ellipsis
}

// marshal is json.Marshal without HTML escaping, which would spend 6 bytes
// on each '<', '>' and '&' of a chat message.
func marshal(p Payload) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("webpush: marshal payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// topic makes the Topic header (RFC 8030 §5.4: at most 32 characters of the
// base64url alphabet) from the collapse key, or from the notice's ID when
// there is none: a hash, because keys hold ':' and may be long. A pending
// notice with the same topic is replaced by the newer one.
func topic(n notify.Notification) string {
	key := n.CollapseKey
	if key == "" {
		key = n.ID
	}
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:32]
}
