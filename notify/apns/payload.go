package apns

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ringchat/ringchat/notify"
)

// MaxPayload is APNs' limit on a remote notification's payload, in bytes.
const MaxPayload = 4096

// ellipsis ends a shortened text.
const ellipsis = "…"

type payload struct {
	APS            aps    `json:"aps"`
	ConversationID string `json:"conversation_id,omitempty"`
	MessageID      string `json:"message_id,omitempty"`
	Count          int    `json:"count"`
	Event          string `json:"event,omitempty"`
}

type aps struct {
	Alert    alert  `json:"alert"`
	Badge    int    `json:"badge"` // always sent: 0 clears the badge
	Sound    string `json:"sound"`
	ThreadID string `json:"thread-id,omitempty"`
}

type alert struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body"`
}

// buildPayload is n's JSON payload, within MaxPayload: the body, or failing
// that the title, is shortened until it fits. It is made with json.Marshal,
// whose HTML escaping apns2's json.Marshal of it would otherwise add after
// the size was measured.
func buildPayload(n notify.Notification) ([]byte, error) {
	p := payload{
		APS: aps{
			Alert: alert{
				// U+FFFD for invalid UTF-8, as json.Marshal would put, so that
				// the text shorten measures and cuts is the text sent.
				Title: strings.ToValidUTF8(n.Title, "\uFFFD"),
				Body:  strings.ToValidUTF8(n.Body, "\uFFFD"),
			},
			Badge:    n.Badge,
			Sound:    "default",
			ThreadID: strings.ToValidUTF8(n.CollapseKey, "\uFFFD"),
		},
		ConversationID: n.ConversationID,
		MessageID:      n.MessageID,
		Count:          n.Count,
		Event:          n.Event,
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("apns: marshal payload: %w", err)
	}
	for _, text := range []*string{&p.APS.Alert.Body, &p.APS.Alert.Title} {
		if len(b) <= MaxPayload {
			break
		}
		b, err = shorten(&p, text)
		if err != nil {
			return nil, err
		}
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("apns: payload is %d bytes with its body and title cut, over %d", len(b), MaxPayload)
	}
	return b, nil
}

// shorten sets *text (a field of p) to its longest prefix, cut at a rune
// boundary and ended with the ellipsis, with which p fits; or to the ellipsis
// alone when none does. It returns p marshalled. The longest prefix is found
// by bisection, since escaping makes JSON's length no simple function of the
// text's; a prefix over MaxPayload bytes can never fit, so the search starts
// below that.
func shorten(p *payload, text *string) ([]byte, error) {
	orig := *text
	if len(orig) > MaxPayload {
		orig = orig[:runeStart(orig, MaxPayload)]
	}
	var err error
	marshal := func(k int) []byte {
		*text = strings.TrimRightFunc(orig[:runeStart(orig, k)], unicode.IsSpace) + ellipsis
		b, e := json.Marshal(p)
		if e != nil {
			err = e
		}
		return b
	}
	// Longer prefixes never make a shorter payload, so "too big" is monotone.
	k := sort.Search(len(orig)+1, func(k int) bool { return len(marshal(k)) > MaxPayload }) - 1
	b := marshal(max(k, 0))
	if err != nil {
		return nil, fmt.Errorf("apns: marshal payload: %w", err)
	}
	return b, nil
}

// runeStart moves k back to the start of the rune it falls in.
func runeStart(s string, k int) int {
	for k > 0 && k < len(s) && !utf8.RuneStart(s[k]) {
		k--
	}
	return k
}
