package fcmtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// violation is a 400 INVALID_ARGUMENT that names the field at fault.
type violation struct {
	field string
	desc  string
}

func (v *violation) Error() string { return v.field + ": " + v.desc }

func invalid(field, format string, args ...any) *violation {
	return &violation{field: field, desc: fmt.Sprintf(format, args...)}
}

// object is a decoded JSON object at a path in the request. FCM parses
// requests as proto3 JSON, which takes a field's snake_case name or its
// lowerCamelCase one, so lookups accept both.
type object struct {
	path string
	m    map[string]any
}

func (o object) at(key string) string { return o.path + "." + key }

// get returns the field named (snake_case) name, and its path.
func (o object) get(name string) (any, string, bool) {
	for _, k := range []string{name, camel(name)} {
		if v, ok := o.m[k]; ok && v != nil { // null means unset in proto3 JSON
			return v, o.at(k), true
		}
	}
	return nil, "", false
}

// known refuses fields other than names, as FCM does ("Unknown name").
func (o object) known(names ...string) error {
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same request gets the same answer
	for _, k := range keys {
		if !slices.Contains(names, snake(k)) {
			return invalid(o.at(k), "Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", k, o.path)
		}
	}
	return nil
}

// str returns a string field ("" when absent).
func (o object) str(name string) (string, error) {
	v, path, ok := o.get(name)
	if !ok {
		return "", nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", invalid(path, "Invalid value at '%s' (TYPE_STRING), %s", path, show(v))
	}
	return s, nil
}

// obj returns an object field; ok is false when it is absent.
func (o object) obj(name string) (object, bool, error) {
	v, path, ok := o.get(name)
	if !ok {
		return object{}, false, nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return object{}, false, invalid(path, "Invalid value at '%s': expected an object, got %s", path, show(v))
	}
	return object{path: path, m: m}, true, nil
}

// stringMap returns a map<string, string> field (nil when absent).
func (o object) stringMap(name string) (map[string]string, error) {
	sub, ok, err := o.obj(name)
	if err != nil || !ok {
		return nil, err
	}
	out := make(map[string]string, len(sub.m))
	for k, v := range sub.m {
		s, isStr := v.(string)
		if !isStr {
			return nil, invalid(sub.at(k), "Invalid value at '%s' (TYPE_STRING), %s: map values must be strings", sub.at(k), show(v))
		}
		out[k] = s
	}
	return out, nil
}

// int32 returns an int32 field, which proto3 JSON takes as a number or a
// decimal string (nil when absent).
func (o object) int32(name string) (*int, error) {
	v, path, ok := o.get(name)
	if !ok {
		return nil, nil
	}
	var n json.Number
	switch v := v.(type) {
	case json.Number:
		n = v
	case string:
		n = json.Number(v)
	}
	i, err := n.Int64()
	if err != nil || i < -1<<31 || i >= 1<<31 {
		return nil, invalid(path, "Invalid value at '%s' (TYPE_INT32), %s", path, show(v))
	}
	x := int(i)
	return &x, nil
}

// show renders a JSON value for an error message.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// camel turns collapse_key into collapseKey.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// snake turns collapseKey into collapse_key.
func snake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
