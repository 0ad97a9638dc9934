package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
)

// allMethods are the methods a client may try on any path.
var allMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodConnect, http.MethodTrace}

// routeTable is every registered /v1 path (Echo's form) with the methods it serves.
func routeTable(e *echo.Echo) map[string]map[string]bool {
	table := map[string]map[string]bool{}
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") || r.Method == echo.RouteNotFound || strings.Contains(r.Path, "*") {
			continue
		}
		if table[r.Path] == nil {
			table[r.Path] = map[string]bool{}
		}
		table[r.Path][r.Method] = true
	}
	return table
}

var echoParamRE = regexp.MustCompile(`:[a-z_]+`)

// concretePath fills Echo's :params with a well-formed id.
func concretePath(p string) string {
	return echoParamRE.ReplaceAllString(p, "123")
}

// Every registered path answers every method it does not serve with 405, an
// Allow header naming the ones it does, and the JSON error body; with or
// without a token (the method is wrong before anyone is asked who they are).
func TestWrongMethodIs405(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("meth")
	table := routeTable(e.api.Echo())
	if len(table) < 15 {
		t.Fatalf("only %d paths: the route walk is broken", len(table))
	}
	for path, served := range table {
		for _, m := range allMethods {
			if served[m] {
				continue
			}
			for _, token := range []string{"", u.token} {
				r := e.do(m, concretePath(path), token, nil)
				if r.status != http.StatusMethodNotAllowed {
					t.Errorf("%s %s (token %v): status %d, want 405; body %s", m, path, token != "", r.status, r.raw)
					continue
				}
				allow := r.header.Get("Allow")
				for sm := range served {
					if !strings.Contains(allow, sm) {
						t.Errorf("%s %s: Allow %q lacks %s", m, path, allow, sm)
					}
				}
				if m == http.MethodHead {
					continue // no body by definition
				}
				errObj, _ := r.body["error"].(map[string]any)
				if errObj["code"] != "method_not_allowed" || errObj["message"] == "" {
					t.Errorf("%s %s: body %s, want a method_not_allowed error", m, path, r.raw)
				}
			}
		}
	}
	// An unknown path is still 401 without a token, then 404.
	expect(t, e.do("GET", "/v1/no/such/path", "", nil), 401, "unauthenticated")
	expect(t, e.do("GET", "/v1/no/such/path", u.token, nil), 404, "not_found")
}

// GET /v1/ws without the upgrade headers is a JSON error, not gorilla's plain text.
func TestWebSocketWithoutUpgradeIsJSON(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("noup")
	for _, token := range []string{"", u.token, "garbage"} {
		r := e.do("GET", "/v1/ws", token, nil)
		expect(t, r, 400, "invalid_argument")
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content type %q", ct)
		}
	}
	// A ticket is not spent by a request that cannot become a socket.
	tr := u.do("POST", "/v1/ws/tickets", nil)
	expect(t, tr, 201)
	ticket := tr.body["ticket"].(string)
	expect(t, e.do("GET", "/v1/ws?ticket="+ticket, "", nil), 400, "invalid_argument")
	conn, _, err := websocket.DefaultDialer.Dial(e.wsURL("?ticket="+ticket), nil)
	if err != nil {
		t.Fatalf("the ticket was spent by a non-upgrade request: %v", err)
	}
	conn.Close()
}

// A text frame that is not UTF-8 closes the socket with 1007 and is not processed.
func TestWebSocketInvalidUTF8Closes1007(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("utfa"), e.newUser("utfb")
	conv := a.direct(b)
	w := a.dial()
	bad := []byte(`{"type":"message.send","ref":"r1","data":{"conversation_id":"` + conv +
		`","client_msg_id":"u1","body":"bad ` + "\xff\xfe" + `"}}`)
	if err := w.conn.WriteMessage(websocket.TextMessage, bad); err != nil {
		t.Fatal(err)
	}
	_ = w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := w.conn.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) {
				t.Fatalf("socket ended with %v, want close 1007", err)
			}
			break
		}
		t.Logf("frame before close: %s", data)
	}
	r := a.do("GET", "/v1/conversations/"+conv+"/messages", nil)
	expect(t, r, 200)
	if msgs := r.body["messages"].([]any); len(msgs) != 0 {
		t.Fatalf("the invalid frame was processed: %v", msgs)
	}
}
