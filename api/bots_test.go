package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/api/socket"
	"github.com/ringchat/ringchat/chat"
)

// bot makes a bot with scopes through the admin API and returns its client.
func (e *env) bot(prefix string, scopes ...string) *client {
	e.t.Helper()
	h := uniqueHandle(prefix)
	r := e.do("POST", "/v1/admin/bots", testAdminToken, map[string]any{"handle": h, "scopes": scopes})
	expect(e.t, r, 201)
	user := r.body["user"].(map[string]any)
	if user["bot"] != true {
		e.t.Fatalf("a bot's profile says bot=%v", user["bot"])
	}
	return &client{e: e, t: e.t, token: r.body["token"].(string), userID: user["id"].(string),
		deviceID: r.body["device_id"].(string), handle: h}
}

// scopeRefusal is the message of a refusal for scope, "" when r is not one.
func scopeRefusal(r resp) string {
	e, _ := r.body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if r.status == 403 && (strings.Contains(msg, "lacks the") || strings.Contains(msg, "bot's token")) {
		return msg
	}
	return ""
}

// Generated from the router and the scope table: every authenticated route
// has a scope; a bot token without it is refused before the handler runs
// (403, naming the scope), one with it is not refused for scope; people-only
// routes refuse every bot token, and a person's token is never refused for
// scope. A new route without a row fails here.
func TestBotScopesFollowTheRouteTable(t *testing.T) {
	e := newEnv(t)
	o := loadOAPI(t, e)
	call := func(c *client, m, p string) resp { return o.exchange(t, e, m, p, c.token, nil, nil, false) }
	scopes := api.RouteScopes()
	holders := map[string]*client{}
	for _, s := range chat.Scopes {
		holders[s] = e.bot("scope", s)
	}
	all := e.bot("all", chat.Scopes...)
	person := e.newUser("person")
	open := map[string]bool{"GET /v1/openapi.yaml": true, "POST /v1/auth/register": true, "POST /v1/auth/login": true}
	for path, methods := range routeTable(e.api.Echo()) {
		for m := range methods {
			key := m + " " + path
			if open[key] || strings.HasPrefix(path, "/v1/admin/") || path == "/v1/ws" {
				continue
			}
			scope, ok := scopes[key]
			if !ok {
				t.Errorf("%s has no row in api.routeScopes", key)
				continue
			}
			p := concretePath(path)
			switch scope {
			case chat.ScopeAnyToken:
				if msg := scopeRefusal(call(e.bot("any", chat.ScopeMessagesRead), m, p)); msg != "" {
					t.Errorf("%s, open to any token, refused a bot: %s", key, msg)
				}
			case chat.ScopePeopleOnly:
				if scopeRefusal(call(all, m, p)) == "" {
					t.Errorf("%s, for people alone, did not refuse a bot holding every scope", key)
				}
			default:
				for s, c := range holders {
					refused := scopeRefusal(call(c, m, p))
					if s == scope && refused != "" {
						t.Errorf("%s refused a bot holding %s: %s", key, scope, refused)
					}
					if s != scope && !strings.Contains(refused, scope) {
						t.Errorf("%s answered a bot holding only %s without the %s refusal (%q)", key, s, scope, refused)
					}
				}
			}
			if scope != chat.ScopeAnyToken && !strings.HasPrefix(key, "POST /v1/auth/logout") && key != "POST /v1/me/password" {
				if msg := scopeRefusal(call(person, m, p)); msg != "" {
					t.Errorf("%s refused a person's token for scope: %s", key, msg)
				}
			}
		}
	}
	for key := range scopes {
		m, path, _ := strings.Cut(key, " ")
		if !routeTable(e.api.Echo())[path][m] {
			t.Errorf("api.routeScopes row %s is not a registered route", key)
		}
	}
}

// The socket: opening it needs messages:read, and each frame type its scope
// (every type has a row); a ticket carries its session's scopes.
func TestBotSocketScopes(t *testing.T) {
	e := newEnv(t)
	writer := e.bot("wonly", chat.ScopeMessagesWrite)
	h := http.Header{"Authorization": {"Bearer " + writer.token}}
	if _, res, err := websocket.DefaultDialer.Dial(e.wsURL(""), h); err == nil || res == nil || res.StatusCode != 403 {
		t.Fatalf("a bot without messages:read opened a socket (%v)", res)
	}
	ticket := writer.do("POST", "/v1/ws/tickets", nil)
	if scopeRefusal(ticket) == "" {
		t.Fatalf("a bot without messages:read got a ticket: %d %s", ticket.status, ticket.raw)
	}

	reader := e.bot("ronly", chat.ScopeMessagesRead)
	r := reader.do("POST", "/v1/ws/tickets", nil)
	expect(t, r, 201)
	conn, _, err := websocket.DefaultDialer.Dial(e.wsURL("?ticket="+r.body["ticket"].(string)), nil)
	if err != nil {
		t.Fatalf("a reading bot's ticket: %v", err)
	}
	defer conn.Close()
	for _, typ := range socket.FrameTypes() {
		scope := socket.FrameScope(typ)
		if scope == chat.ScopePeopleOnly {
			t.Errorf("frame type %s has no scope row", typ)
			continue
		}
		if scope == chat.ScopeMessagesRead {
			continue
		}
		if err := conn.WriteJSON(map[string]any{"type": typ, "ref": "r-" + typ, "data": map[string]any{}}); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var f struct {
				Type string `json:"type"`
				Ref  string `json:"ref"`
				Data struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"data"`
			}
			if err := conn.ReadJSON(&f); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if f.Ref != "r-"+typ {
				continue
			}
			if f.Type != "error" || f.Data.Code != "permission_denied" || !strings.Contains(f.Data.Message, scope) {
				t.Errorf("frame %s from a bot without %s: %+v", typ, scope, f)
			}
			break
		}
	}
}

// The admin API: its token alone opens it; a bot cannot log in; a revoked
// token stops at once; tokens of a person cannot be issued through it.
func TestAdminBotTokens(t *testing.T) {
	e := newEnv(t)
	person := e.newUser("notbot")
	if r := e.do("POST", "/v1/admin/bots", person.token, map[string]any{"handle": uniqueHandle("x"), "scopes": []string{"messages:read"}}); r.status != 401 {
		t.Errorf("a person's token on the admin API: %d", r.status)
	}
	if r := e.do("POST", "/v1/admin/bots", testAdminToken+"x", map[string]any{"handle": uniqueHandle("x"), "scopes": []string{"messages:read"}}); r.status != 401 {
		t.Errorf("a wrong admin token: %d", r.status)
	}
	for _, bad := range []map[string]any{
		{"handle": uniqueHandle("x")},
		{"handle": uniqueHandle("x"), "scopes": []string{}},
		{"handle": uniqueHandle("x"), "scopes": []string{"admin"}},
		{"handle": "A!", "scopes": []string{"messages:read"}},
		{"handle": person.handle, "scopes": []string{"messages:read"}},
	} {
		if r := e.do("POST", "/v1/admin/bots", testAdminToken, bad); r.status != 400 && r.status != 409 {
			t.Errorf("bot %v: %d %s", bad, r.status, r.raw)
		}
	}
	if r := e.do("POST", "/v1/admin/bots/"+person.userID+"/tokens", testAdminToken, map[string]any{"scopes": []string{"messages:read"}}); r.status != 404 {
		t.Errorf("a token for a person through the admin API: %d %s", r.status, r.raw)
	}

	b := e.bot("rot", chat.ScopeMessagesRead, chat.ScopeMessagesRead)
	if r := e.do("GET", "/v1/admin/bots?handle="+b.handle, testAdminToken, nil); r.status != 200 || r.body["user"].(map[string]any)["id"] != b.userID {
		t.Errorf("find the bot by handle: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1/admin/bots?handle="+person.handle, testAdminToken, nil); r.status != 404 {
		t.Errorf("find a person through the admin API: %d %s", r.status, r.raw)
	}
	if r := b.do("GET", "/v1/me", nil); r.status != 200 || r.body["user"].(map[string]any)["bot"] != true {
		t.Errorf("a bot's /v1/me: %d %s", r.status, r.raw)
	}
	for _, pw := range []string{"", "correct horse", "x"} {
		if r := e.do("POST", "/v1/auth/login", "", map[string]any{"handle": b.handle, "password": pw}); r.status == 200 {
			t.Errorf("a bot logged in with password %q", pw)
		}
	}
	r := e.do("POST", "/v1/admin/bots/"+b.userID+"/tokens", testAdminToken, map[string]any{"scopes": []string{"messages:write"}, "token_name": "rotated"})
	expect(t, r, 201)
	if got := r.body["scopes"].([]any); len(got) != 1 || got[0] != "messages:write" {
		t.Errorf("issued scopes %v", got)
	}
	second := &client{e: e, t: t, token: r.body["token"].(string), userID: b.userID, deviceID: r.body["device_id"].(string)}
	listed := e.do("GET", "/v1/admin/bots/"+b.userID+"/tokens", testAdminToken, nil)
	expect(t, listed, 200)
	ids := map[string]bool{}
	for _, tok := range listed.body["tokens"].([]any) {
		ids[tok.(map[string]any)["device_id"].(string)] = true
	}
	if len(ids) != 2 || !ids[b.deviceID] || !ids[second.deviceID] {
		t.Errorf("the bot's tokens: %s", listed.raw)
	}
	expect(t, e.do("DELETE", "/v1/admin/bots/"+b.userID+"/tokens/"+b.deviceID, testAdminToken, nil), 204)
	if r := b.do("GET", "/v1/me", nil); r.status != 401 {
		t.Errorf("a revoked bot token answered %d", r.status)
	}
	if r := second.do("GET", "/v1/me", nil); r.status != 200 {
		t.Errorf("the bot's other token after the revoke: %d", r.status)
	}
}
