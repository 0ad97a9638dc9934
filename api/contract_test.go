package api_test

import (
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// Every operation of api/openapi.yaml is a route and every route an
// operation; every operation is called with hostile input (no token, a
// garbage token, malformed and unknown ids, bad query values, garbage bodies
// and wrongly typed fields), and every answer must be a status the operation
// documents with a body its schema allows.
func TestOpenAPIBadInputs(t *testing.T) {
	w := newWorld(t)
	ops := w.o.operations()
	routes := registeredRoutes(w.e.api.Echo())
	for key := range routes {
		if ops[key] == nil {
			t.Errorf("route %s has no operation in api/openapi.yaml", key)
		}
	}
	keys := make([]string, 0, len(ops))
	for key := range ops {
		if !routes[key] {
			t.Errorf("operation %s is not a registered route", key)
		}
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		op := ops[key]
		method, template, _ := strings.Cut(key, " ")
		if template == "/v1/ws" {
			continue // not HTTP; the matrix dials it
		}
		t.Run(key, func(t *testing.T) {
			good := w.fillPath(template, nil)
			secured := op.Security == nil || len(*op.Security) > 0
			if secured {
				for _, token := range []string{"", "garbage"} {
					r := w.o.exchange(t, w.e, method, good, token, nil, nil, false)
					if r.status != http.StatusUnauthorized {
						t.Errorf("%s with token %q: %d, want 401", good, token, r.status)
					}
				}
			}
			token := w.token[member]
			if strings.HasPrefix(template, "/v1/admin/") {
				token = testAdminToken // the admin API's own bearer
			}
			for _, p := range pathParams(template) {
				for _, bad := range []string{"0", "-5", "abc", "99999999999999999999", "1e3", "%20"} {
					path := w.fillPath(template, map[string]string{p: bad})
					r := w.o.exchange(t, w.e, method, path, token, nil, nil, false)
					if r.status != http.StatusBadRequest {
						t.Errorf("%s: %d, want 400 for a malformed %s; %s", path, r.status, p, r.raw)
					}
				}
				// Well-formed but unknown: whatever is documented.
				w.o.exchange(t, w.e, method, w.fillPath(template, map[string]string{p: "1"}), token, nil, nil, false)
			}
			for _, q := range queryParams(op) {
				for _, bad := range []string{"", "0", "-1", "101", "abc", "!!!", "99999999999999999999", "a,b", "\xff"} {
					w.o.exchange(t, w.e, method, good+sep(good)+q+"="+url.QueryEscape(bad), token, nil, nil, false)
				}
			}
			if op.RequestBody == nil {
				return
			}
			bodies := []string{"", "{", "[]", `"x"`, "7", "null", `{"a":1}{}`, "\xff\xfe", `{"x":"` + "\xff" + `"}`}
			for _, name := range bodyProperties(op) {
				for _, v := range []string{`5`, `"s"`, `true`, `[]`, `{}`, `null`, `"0"`, `["0"]`, `-1`, `1e400`} {
					bodies = append(bodies, `{"`+name+`":`+v+`}`)
				}
			}
			for _, b := range bodies {
				r := w.o.exchange(t, w.e, method, good, token, nil, []byte(b), false)
				if r.status/100 == 2 && !lenientBody(template) {
					t.Logf("%s accepted body %q with %d", good, b, r.status)
				}
			}
			h := http.Header{"Content-Type": {"text/plain"}}
			w.o.exchange(t, w.e, method, good, token, h, []byte(`{}`), false)
		})
	}
}

// lenientBody are operations whose every field is optional: {} is a fine body.
func lenientBody(template string) bool {
	return template == "/v1/me" || strings.HasSuffix(template, "/me") || strings.HasSuffix(template, "/members/{user_id}") ||
		template == "/v1/conversations/{conv_id}"
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

var templateParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func pathParams(template string) []string {
	var out []string
	for _, m := range templateParam.FindAllStringSubmatch(template, -1) {
		out = append(out, m[1])
	}
	return out
}

// fillPath makes a concrete path: the member's group, its message, the
// owner's user and media, the member's device, unless override says otherwise.
func (w *world) fillPath(template string, override map[string]string) string {
	values := map[string]string{"conv_id": w.group, "msg_id": w.groupMsg, "user_id": w.users[owner].userID,
		"media_id": w.media, "device_id": w.users[member].deviceID}
	return templateParam.ReplaceAllStringFunc(template, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := override[name]; ok {
			return v
		}
		return values[name]
	})
}

func queryParams(op *openapi3.Operation) []string {
	var out []string
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.In == "query" {
			out = append(out, p.Value.Name)
		}
	}
	return out
}

func bodyProperties(op *openapi3.Operation) []string {
	media := op.RequestBody.Value.Content.Get("application/json")
	if media == nil || media.Schema == nil || media.Schema.Value == nil {
		return nil
	}
	var out []string
	for name := range media.Schema.Value.Properties {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
