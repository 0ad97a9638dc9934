package api

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
)

type bindProbe struct {
	Name   string          `json:"name"`
	Size   int64           `json:"size"`
	On     bool            `json:"on"`
	IDs    []string        `json:"ids"`
	Nested struct{ X int } `json:"nested"`
	Ratio  float64         `json:"ratio"`
	Tags   map[string]string
}

// goTypeName matches what would leak the server's internals into a message.
var goTypeName = regexp.MustCompile(`\bapi\.|\bint(8|16|32|64)?\b|\buint|float(32|64)|\[\]|map\[|struct|Go value|json:`)

func bindError(t *testing.T, body string) error {
	t.Helper()
	req := httptest.NewRequest("POST", "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	c := echo.New().NewContext(req, httptest.NewRecorder())
	var dst bindProbe
	return bindJSON(c, &dst)
}

// A body of the wrong shape is a clean invalid_argument in JSON's words, never
// a Go type name.
func TestBindErrorsNameNoGoTypes(t *testing.T) {
	for _, body := range []string{
		`[]`, `"x"`, `7`, `true`, `null,`, `{"name": 5}`, `{"size": "5"}`, `{"size": 1e400}`, `{"size": 1.5}`,
		`{"size": -99999999999999999999}`, `{"on": "yes"}`, `{"ids": "a"}`, `{"ids": [1]}`, `{"nested": []}`,
		`{"nested": {"X": "y"}}`, `{"ratio": {}}`, `{"Tags": []}`, `{"Tags": {"a": 1}}`, `{`, `{"a":1}{}`, ``, "\xff",
	} {
		err := bindError(t, body)
		if body == `null,` {
			if err == nil {
				t.Errorf("%q accepted", body)
			}
		}
		if err == nil {
			continue
		}
		code, msg, status := classify(err)
		if code != repo.CodeInvalidArgument || status != 400 {
			t.Errorf("%q: %s %d %q, want invalid_argument 400", body, code, status, msg)
		}
		if goTypeName.MatchString(msg) {
			t.Errorf("%q: message %q names a Go type", body, msg)
		}
	}
	if err := bindError(t, `{"name":"a","size":3,"ids":["1"]}`); err != nil {
		t.Errorf("a good body refused: %v", err)
	}
}
