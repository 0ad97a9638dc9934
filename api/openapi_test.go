package api

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/ringchat/ringchat/api/socket"
	"gopkg.in/yaml.v3"
)

type openAPIDocument struct {
	OpenAPI string                                       `yaml:"openapi"`
	Paths   map[string]map[string]openAPIOperation       `yaml:"paths"`
	Comps   map[string]map[string]map[string]interface{} `yaml:"components"`
}

type openAPIOperation struct {
	Responses map[string]struct {
		Ref     string `yaml:"$ref"`
		Content map[string]struct {
			Schema map[string]interface{} `yaml:"schema"`
		} `yaml:"content"`
	} `yaml:"responses"`
}

func loadOpenAPI(t *testing.T) openAPIDocument {
	t.Helper()
	var doc openAPIDocument
	if err := yaml.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.yaml is not valid YAML: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi version %q, want 3.0.x", doc.OpenAPI)
	}
	return doc
}

var echoParam = regexp.MustCompile(`:([a-z_]+)`)

// Every route the server registers must be documented with the same method.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	s := &Server{echo: echo.New()}
	s.routes()
	n := 0
	for _, r := range s.echo.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") || r.Method == echo.RouteNotFound {
			continue
		}
		n++
		path := echoParam.ReplaceAllString(r.Path, "{$1}")
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s %s is not in api/openapi.yaml (as %s)", r.Method, r.Path, path)
			continue
		}
		if _, ok := ops[strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s: method missing from api/openapi.yaml", r.Method, path)
		}
	}
	if n < 15 {
		t.Fatalf("only %d routes found: the route walk is broken", n)
	}
}

// Every operation answers some 2xx (or 101), and every error response is the Error schema.
func TestOpenAPIResponsesAreWellFormed(t *testing.T) {
	doc := loadOpenAPI(t)
	shared := doc.Comps["responses"]
	for path, ops := range doc.Paths {
		for method, op := range ops {
			ok := false
			for code, resp := range op.Responses {
				if code[0] == '2' || code == "101" {
					ok = true
					continue
				}
				ref := strings.TrimPrefix(resp.Ref, "#/components/responses/")
				if _, found := shared[ref]; resp.Ref == "" || !found {
					t.Errorf("%s %s: response %s is not a shared error response", method, path, code)
				}
			}
			if !ok {
				t.Errorf("%s %s has no success response", method, path)
			}
		}
	}
	for name, r := range shared {
		content, _ := r["content"].(map[string]interface{})
		js, _ := content["application/json"].(map[string]interface{})
		schema, _ := js["schema"].(map[string]interface{})
		if schema["$ref"] != "#/components/schemas/Error" {
			t.Errorf("shared response %s is not the Error schema", name)
		}
	}
}

// Every client frame type the dispatcher serves is in docs/websocket.md's table.
func TestWebSocketDocListsEveryFrameType(t *testing.T) {
	raw, err := os.ReadFile("../docs/websocket.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range socket.FrameTypes() {
		if !strings.Contains(string(raw), "| `"+typ+"` |") {
			t.Errorf("client frame type %q is not in docs/websocket.md", typ)
		}
	}
}
