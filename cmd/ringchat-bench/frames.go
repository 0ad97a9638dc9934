package main

import (
	"bytes"
	"encoding/json"
	"math"

	"github.com/ringchat/ringchat/internal/jsonscan"
)

// frameView is what the generator measures in a server frame, as slices of
// the frame's own bytes. It is found by walking the JSON's structure without
// decoding it: a 1,000-member group at 50 msg/s is 200 MB/s of 4 KB frames,
// and encoding/json decoding each (validating and copying every body) made
// the generator, not chatd, what saturated the machine (issue 13).
type frameView struct {
	typ, ref []byte
	id       []byte // message.new: data.id
	msgID    []byte // ack: data.message.id
	sentNs   int64  // message.new: the send time leading data.body
	hasSent  bool
}

// scanFrame finds type, ref, data.id, data.message.id and the send time at
// the start of data.body. ok is false for anything it does not read plainly
// (not an object, an escape in a string it reads, a truncated frame): the
// caller decodes those with encoding/json, so what is counted never depends
// on the scanner's shortcuts. On valid JSON it answers as encoding/json
// would (FuzzScanFrame); it does not validate what it skips.
func scanFrame(b []byte) (v frameView, ok bool) {
	message := func(key []byte, at int) (int, bool) {
		if string(key) == "id" {
			return plainString(b, at, &v.msgID)
		}
		return otherKey(b, key, at, "id")
	}
	data := func(key []byte, at int) (int, bool) {
		switch string(key) {
		case "id":
			return plainString(b, at, &v.id)
		case "body":
			return bodyTime(b, at, &v)
		case "message":
			if at < len(b) && b[at] == '{' {
				return walkObject(b, at, message)
			}
			return skipValue(b, at)
		}
		return otherKey(b, key, at, "id", "body", "message", "code")
	}
	end, ok := walkObject(b, 0, func(key []byte, at int) (int, bool) {
		switch string(key) {
		case "type":
			return plainString(b, at, &v.typ)
		case "ref":
			return plainString(b, at, &v.ref)
		case "data":
			if at < len(b) && b[at] == '{' {
				return walkObject(b, at, data)
			}
			return skipValue(b, at)
		}
		return otherKey(b, key, at, "type", "ref", "data")
	})
	return v, ok && jsonscan.Space(b, end) == len(b)
}

// walkObject is jsonscan.Object (chatd's own scanner) over plain keys only:
// a key with an escape, or not printable ASCII, is not ok (see plainString).
func walkObject(b []byte, i int, field func(key []byte, at int) (int, bool)) (int, bool) {
	return jsonscan.Object(b, i, func(key []byte, escaped bool, at int) (int, bool) {
		if escaped || !plain(key) {
			return 0, false
		}
		return field(key, at)
	})
}

// plainString reads the string at b[i] into out when it is printable ASCII
// without escapes (keys, ids, types and refs are); any other is not ok, as
// encoding/json would rewrite it (escapes, invalid UTF-8) or fold it onto a
// field name (Unicode case folding).
func plainString(b []byte, i int, out *[]byte) (int, bool) {
	end, ok := skipString(b, i)
	if !ok || !plain(b[i+1:end-1]) {
		return 0, false
	}
	*out = b[i+1 : end-1]
	return end, true
}

func plain(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// otherKey skips the value of a key the scanner does not read, and declines
// a key encoding/json would match to one of names regardless of case.
func otherKey(b []byte, key []byte, at int, names ...string) (int, bool) {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return 0, false
		}
	}
	return skipValue(b, at)
}

// bodyTime reads the send time leading the body string at b[i]
// (sentPrefix) and skips the rest of the string. An escape before the first
// '|' is not ok: only a decoder knows what it stands for.
func bodyTime(b []byte, i int, v *frameView) (int, bool) {
	end, ok := skipString(b, i)
	if !ok {
		return 0, false
	}
	body := b[i+1 : end-1]
	head := body
	if bar := bytes.IndexByte(body, '|'); bar >= 0 {
		head = body[:bar]
	}
	if bytes.IndexByte(head, '\\') >= 0 {
		return 0, false
	}
	v.sentNs, v.hasSent = sentPrefix(body)
	return end, true
}

// sentPrefix reads the send time paddedBody puts first in a body: decimal
// digits up to the first '|'.
func sentPrefix(body []byte) (int64, bool) {
	bar := bytes.IndexByte(body, '|')
	if bar <= 0 {
		return 0, false
	}
	var n int64
	for _, c := range body[:bar] {
		if c < '0' || c > '9' || n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// skipString returns the index just past the string starting at b[i]. The
// closing quote is the first one not escaped (preceded by an even number of
// backslashes): bytes.IndexByte does the scanning. It and skipValue stay
// apart from jsonscan's String and Value on purpose: those validate every
// byte, as chatd must, and the generator skips 4 KB bodies at 200 MB/s
// without judging them (what it reads is checked; FuzzScanFrame).
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		q := j + k
		bs := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && bytes.IndexByte([]byte(",}] \t\r\n"), b[j]) < 0 {
		j++
	}
	return j, j > i
}

// decodedFrame is the slow path: an error frame (its code and reason go in
// the report) or one the scanner declined.
type decodedFrame struct {
	Type string `json:"type"`
	Ref  string `json:"ref"`
	Data struct {
		ID           string          `json:"id"`             // message.new
		Body         string          `json:"body"`           // message.new: the send time leads it
		Code         string          `json:"code"`           // error
		RetryAfterMs int             `json:"retry_after_ms"` // error: wait this long before retrying
		Message      json.RawMessage `json:"message"`
	} `json:"data"`
}

// view is what scanFrame would have found in f.
func (f decodedFrame) view() frameView {
	v := frameView{typ: []byte(f.Type), ref: []byte(f.Ref), id: []byte(f.Data.ID)}
	v.sentNs, v.hasSent = sentPrefix([]byte(f.Data.Body))
	var m struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(f.Data.Message, &m) == nil {
		v.msgID = []byte(m.ID)
	}
	return v
}
