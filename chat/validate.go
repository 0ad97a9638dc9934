package chat

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits are the bounds on client input (ARCHITECTURE.md guarantee 5).
type Limits struct {
	MessageBytes int // default 4 KiB
	MessageChars int // default 1,000
	PageSize     int // default page; MaxPageSize is the cap
	MaxPageSize  int
}

// DefaultLimits are the documented defaults.
func DefaultLimits() Limits {
	return Limits{MessageBytes: 4096, MessageChars: 1000, PageSize: 50, MaxPageSize: 100}
}

// handleRE is ASCII only, matched before any case folding: strings.ToLower
// maps "İ" and the Kelvin sign "K" to ASCII letters, which let look-alike
// handles in.
var handleRE = regexp.MustCompile(`^[a-zA-Z0-9_.]{3,32}$`)

func validateHandle(h string) error {
	if !handleRE.MatchString(h) {
		return invalid("handle must be 3-32 characters of a-z, 0-9, _ and .")
	}
	return nil
}

func validatePassword(p string) error {
	if utf8.RuneCountInString(p) < 8 {
		return invalid("password must be at least 8 characters")
	}
	if len(p) > 1024 {
		return invalid("password must be at most 1024 bytes")
	}
	return nil
}

// validateText checks a free-text field: valid UTF-8, no more than maxChars characters.
func validateText(field, s string, minChars, maxChars int) error {
	// One pass checks the encoding and counts the characters (a 4 KB body
	// took three); the trimmed count takes off the few characters trimmed.
	n := 0
	for i := 0; i < len(s); n++ {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return invalid("%s is not valid UTF-8", field)
		}
		i += size
	}
	left := strings.TrimLeftFunc(s, unicode.IsSpace) // strings.TrimSpace, in two steps
	trimmed := strings.TrimRightFunc(left, unicode.IsSpace)
	lead, trail := s[:len(s)-len(left)], left[len(trimmed):]
	if n-utf8.RuneCountInString(lead)-utf8.RuneCountInString(trail) < minChars {
		return invalid("%s must not be empty", field)
	}
	if n > maxChars {
		return invalid("%s must be at most %d characters", field, maxChars)
	}
	return nil
}

// validateBody checks a message body; it may be empty only when media is attached.
func (l Limits) validateBody(body string, hasMedia bool) error {
	if len(body) > l.MessageBytes {
		return tooLarge("body is %d bytes; the limit is %d", len(body), l.MessageBytes)
	}
	minChars := 1
	if hasMedia {
		minChars = 0
	}
	return validateText("body", body, minChars, l.MessageChars)
}

func validateClientMsgID(id string) error {
	if id == "" || len(id) > 64 || !utf8.ValidString(id) {
		return invalid("client_msg_id must be 1-64 bytes")
	}
	return nil
}
