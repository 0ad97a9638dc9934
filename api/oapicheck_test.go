package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/labstack/echo/v4"
)

// oapi checks real responses against api/openapi.yaml as the server serves it
// (kin-openapi: document validation, routing, schema validation).
type oapi struct {
	doc    *openapi3.T
	router routers.Router
	errRef *openapi3.SchemaRef

	mu   sync.Mutex
	seen map[string]map[int]bool // "METHOD /template" → statuses answered
}

var yamlDecoderOnce sync.Once

func loadOAPI(t testing.TB, e *env) *oapi {
	t.Helper()
	yamlDecoderOnce.Do(func() {
		// The document itself is the one YAML response, and the export the
		// one JSON-lines response (each line checked apart: dataexport_test):
		// validated as strings.
		asString := func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		}
		openapi3filter.RegisterBodyDecoder("application/yaml", asString)
		openapi3filter.RegisterBodyDecoder("application/x-ndjson", asString)
	})
	r := e.do("GET", "/v1/openapi.yaml", "", nil)
	if r.status != 200 {
		t.Fatalf("GET /v1/openapi.yaml: %d", r.status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.raw)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: e.srv.URL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &oapi{doc: doc, router: router, errRef: doc.Components.Schemas["Error"], seen: map[string]map[int]bool{}}
}

var echoParamName = regexp.MustCompile(`:([a-z_]+)`)

// opKey names an operation the way both the document and Echo's routes can.
func opKey(method, template string) string { return method + " " + template }

func echoTemplate(p string) string { return echoParamName.ReplaceAllString(p, "{$1}") }

// operations are the document's operations as keys.
func (o *oapi) operations() map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range o.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[opKey(method, path)] = op
		}
	}
	return ops
}

// registeredRoutes are Echo's /v1 routes as keys.
func registeredRoutes(e *echo.Echo) map[string]bool {
	out := map[string]bool{}
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") || r.Method == echo.RouteNotFound || strings.Contains(r.Path, "*") {
			continue
		}
		out[opKey(r.Method, echoTemplate(r.Path))] = true
	}
	return out
}

// check validates one exchange: a documented route answers a status its
// operation documents, with a body and headers its schema allows; a request
// no operation matches (wrong method, unknown path) answers the Error schema.
// reqBody is what was sent; validReq says the request itself should conform.
func (o *oapi) check(t testing.TB, method, rawURL string, header http.Header, reqBody []byte, status int, respHeader http.Header, body []byte, validReq bool) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, u.String(), bytes.NewReader(reqBody))
	for k, v := range header {
		req.Header[k] = v
	}
	route, params, err := o.router.FindRoute(req)
	if err != nil {
		if status != http.StatusMethodNotAllowed && status != http.StatusNotFound && status != http.StatusUnauthorized {
			t.Errorf("%s %s: no operation, yet status %d", method, u.Path, status)
		}
		if method != http.MethodHead {
			o.checkError(t, method, u.Path, body)
		}
		return
	}
	key := opKey(method, route.Path)
	o.mu.Lock()
	if o.seen[key] == nil {
		o.seen[key] = map[int]bool{}
	}
	o.seen[key][status] = true
	o.mu.Unlock()
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if validReq {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the test's request does not conform to the document: %v", method, u.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: respHeader,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s: response %d %.300s does not match the document: %v", method, u.Path, status, body, err)
	}
}

func (o *oapi) checkError(t testing.TB, method, path string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s %s: error body %q is not JSON", method, path, body)
		return
	}
	if err := o.errRef.Value.VisitJSON(v); err != nil {
		t.Errorf("%s %s: error body %s is not the Error schema: %v", method, path, body, err)
	}
}

// exchange sends a request and validates the answer; it returns the answer.
func (o *oapi) exchange(t testing.TB, e *env, method, path, token string, header http.Header, body []byte, validReq bool) resp {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	raw, _ := io.ReadAll(r.Body)
	r.Body.Close()
	o.check(t, method, e.srv.URL+path, req.Header, body, r.StatusCode, r.Header, raw, validReq)
	out := resp{status: r.StatusCode, header: r.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &out.body)
	}
	return out
}
