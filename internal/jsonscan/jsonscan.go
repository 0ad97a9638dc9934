// Package jsonscan walks JSON text in one pass without decoding it, for the
// hot paths that only need a few plain fields of a frame (chatd's incoming
// message.send: encoding/json validated and scanned a 4 KB body four times).
// It accepts exactly RFC 8259's grammar, but does not check UTF-8, and
// callers decline whatever they do not read plainly (an escape in a key, an
// unexpected key, nesting past MaxDepth) so that encoding/json decides it:
// a fast path, never a second meaning.
package jsonscan

// MaxDepth bounds the nesting Value follows; deeper is not ok (the caller's
// encoding/json fallback decides it).
const MaxDepth = 64

// Space returns i advanced past JSON whitespace.
func Space(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// String scans the string starting at b[i]. It returns the index just past
// its closing quote and whether it holds an escape; ok is false unless it is
// a JSON string: escapes well-formed, no control characters.
func String(b []byte, i int) (end int, escaped, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, false
	}
	for j := i + 1; j < len(b); {
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, true
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				return 0, false, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || !hex4(b[j+2:j+6]) {
					return 0, false, false
				}
				j += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		default:
			j++
		}
	}
	return 0, false, false
}

func hex4(h []byte) bool {
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Object walks the object starting at b[i], calling field for each member
// with its key's bytes (between the quotes, escapes left as they are),
// whether the key holds an escape, and where its value starts (whitespace
// skipped); field returns where the value ends. It returns the index just
// past the closing brace.
func Object(b []byte, i int, field func(key []byte, escaped bool, at int) (int, bool)) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = Space(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		end, escaped, ok := String(b, i)
		if !ok {
			return 0, false
		}
		key := b[i+1 : end-1]
		i = Space(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i, ok = field(key, escaped, Space(b, i+1)); !ok {
			return 0, false
		}
		i = Space(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = Space(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// Value checks the JSON value starting at b[i] and returns the index just
// past it.
func Value(b []byte, i int) (int, bool) { return value(b, i, 0) }

func value(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > MaxDepth {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		end, _, ok := String(b, i)
		return end, ok
	case c == '{':
		return Object(b, i, func(_ []byte, _ bool, at int) (int, bool) { return value(b, at, depth+1) })
	case c == '[':
		i = Space(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			end, ok := value(b, i, depth+1)
			if !ok {
				return 0, false
			}
			i = Space(b, end)
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i = Space(b, i+1)
			case ']':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return number(b, i)
	}
	return 0, false
}

func literal(b []byte, i int, word string) (int, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return 0, false
	}
	return i + len(word), true
}

// number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func number(b []byte, i int) (int, bool) {
	digits := func(j int) int {
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		return j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i + 1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}
