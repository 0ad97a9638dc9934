package api_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

func TestRegisterLoginProfile(t *testing.T) {
	e := newEnv(t)
	h := uniqueHandle("Alice")
	r := e.do("POST", "/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse", "display_name": "Alice A"})
	expect(t, r, 201)
	user := r.body["user"].(map[string]any)
	if user["handle"] != h || user["display_name"] != "Alice A" || user["id"] == "" {
		t.Fatalf("register returned %s", r.raw)
	}
	if _, leaked := user["password_hash"]; leaked {
		t.Fatal("password hash leaked")
	}

	t.Run("handle unique ignoring case", func(t *testing.T) {
		r := e.do("POST", "/v1/auth/register", "", map[string]any{"handle": strings.ToLower(h), "password": "another pass"})
		expect(t, r, 409, "conflict")
	})
	t.Run("wrong password", func(t *testing.T) {
		r := e.do("POST", "/v1/auth/login", "", map[string]any{"handle": h, "password": "wrong horse", "device_name": "x"})
		expect(t, r, 401, "unauthenticated")
	})
	t.Run("unknown handle", func(t *testing.T) {
		r := e.do("POST", "/v1/auth/login", "", map[string]any{"handle": "nobody_here_xyz", "password": "correct horse"})
		expect(t, r, 401, "unauthenticated")
	})

	c := e.login(strings.ToUpper(h)) // login ignores case too
	if c.userID != user["id"] {
		t.Fatalf("login user %s, registered %s", c.userID, user["id"])
	}
	t.Run("me", func(t *testing.T) {
		r := c.do("GET", "/v1/me", nil)
		expect(t, r, 200)
		if r.body["user"].(map[string]any)["id"] != c.userID {
			t.Fatalf("me: %s", r.raw)
		}
	})
	t.Run("patch me", func(t *testing.T) {
		r := c.do("PATCH", "/v1/me", map[string]any{"display_name": "Alice B", "phone": "+15551234567"})
		expect(t, r, 200)
		u := c.do("GET", "/v1/me", nil).body["user"].(map[string]any)
		if u["display_name"] != "Alice B" || u["phone"] != "+15551234567" {
			t.Fatalf("after patch: %v", u)
		}
		expect(t, c.do("PATCH", "/v1/me", map[string]any{"phone": "555"}), 400, "invalid_argument")
		expect(t, c.do("PATCH", "/v1/me", map[string]any{"display_name": ""}), 400, "invalid_argument")
	})
	t.Run("public profile by id and handle", func(t *testing.T) {
		other := e.newUser("bob")
		r := other.do("GET", "/v1/users/"+c.userID, nil)
		expect(t, r, 200)
		pub := r.body["user"].(map[string]any)
		if pub["handle"] != h || pub["phone"] != nil {
			t.Fatalf("public profile %s", r.raw)
		}
		r = other.do("GET", "/v1/users?handle="+strings.ToUpper(h), nil)
		expect(t, r, 200)
		if r.body["user"].(map[string]any)["id"] != c.userID {
			t.Fatalf("by handle: %s", r.raw)
		}
		expect(t, other.do("GET", "/v1/users/123", nil), 404, "not_found")
		expect(t, other.do("GET", "/v1/users?handle=no_such_handle_1", nil), 404, "not_found")
	})
}

func TestRegisterValidation(t *testing.T) {
	e := newEnv(t)
	cases := map[string]map[string]any{
		"short handle":    {"handle": "ab", "password": "long enough"},
		"bad characters":  {"handle": "no spaces!", "password": "long enough"},
		"long handle":     {"handle": strings.Repeat("a", 33), "password": "long enough"},
		"short password":  {"handle": uniqueHandle("v"), "password": "short"},
		"missing handle":  {"password": "long enough"},
		"long name":       {"handle": uniqueHandle("v"), "password": "long enough", "display_name": strings.Repeat("n", 65)},
		"wrong type":      {"handle": 42, "password": "long enough"},
		"missing all":     {},
		"password absent": {"handle": uniqueHandle("v")},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			expect(t, e.do("POST", "/v1/auth/register", "", body), 400, "invalid_argument")
		})
	}
}

func TestConcurrentRegistrationOfOneHandle(t *testing.T) {
	e := newEnv(t)
	h := uniqueHandle("race")
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Case varies too: the claim must ignore it.
			handle := h
			if i%2 == 1 {
				handle = strings.ToUpper(h)
			}
			statuses <- e.do("POST", "/v1/auth/register", "", map[string]any{"handle": handle, "password": "correct horse"}).status
		}()
	}
	wg.Wait()
	close(statuses)
	created, conflicts := 0, 0
	for s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
			conflicts++
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("created %d, conflicts %d; want exactly one account", created, conflicts)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	c := e.newUser("tok")
	t.Run("missing", func(t *testing.T) { expect(t, e.do("GET", "/v1/me", "", nil), 401, "unauthenticated") })
	t.Run("garbage", func(t *testing.T) { expect(t, e.do("GET", "/v1/me", "garbage", nil), 401, "unauthenticated") })
	t.Run("logout revokes at once", func(t *testing.T) {
		second := e.login(c.handle)
		expect(t, second.do("POST", "/v1/auth/logout", nil), 204)
		expect(t, second.do("GET", "/v1/me", nil), 401, "unauthenticated")
		expect(t, c.do("GET", "/v1/me", nil), 200) // the other device is untouched
	})
	t.Run("expired", func(t *testing.T) {
		short := newEnv(t, func(_ *api.Config, r *repo.Retention, _ *ws.Config) { r.Session = time.Second })
		u := short.newUser("exp")
		expect(t, u.do("GET", "/v1/me", nil), 200)
		deadline := time.Now().Add(15 * time.Second)
		for r := u.do("GET", "/v1/me", nil); r.status != 401; r = u.do("GET", "/v1/me", nil) { // until the row's TTL runs out
			if r.status != 200 || time.Now().After(deadline) {
				t.Fatalf("a session of a 1 s TTL, %s after login: %d %s, want it to run out (401)", time.Since(deadline.Add(-15*time.Second)), r.status, r.raw)
			}
			time.Sleep(100 * time.Millisecond)
		}
		expect(t, u.do("GET", "/v1/me", nil), 401, "unauthenticated")
	})
	t.Run("devices list and revoke", func(t *testing.T) {
		other := e.login(c.handle)
		r := c.do("GET", "/v1/me/devices", nil)
		expect(t, r, 200)
		devs := r.body["devices"].([]any)
		found := false
		for _, d := range devs {
			found = found || d.(map[string]any)["id"] == other.deviceID
		}
		if !found {
			t.Fatalf("device %s not listed: %s", other.deviceID, r.raw)
		}
		expect(t, c.do("DELETE", "/v1/me/devices/"+other.deviceID, nil), 204)
		expect(t, other.do("GET", "/v1/me", nil), 401, "unauthenticated")
		expect(t, c.do("DELETE", "/v1/me/devices/"+other.deviceID, nil), 404, "not_found")
	})
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/v1/openapi.yaml", "", nil)
	if r.status != 200 || !strings.HasPrefix(string(r.raw), "openapi: 3.0") || r.header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /v1/openapi.yaml: %d %q %.40s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	// Unknown paths under /v1 need a token first (so they cannot be probed), then 404.
	expect(t, e.do("GET", "/v1/no-such-route", "", nil), 401, "unauthenticated")
	expect(t, e.newUser("nf").do("GET", "/v1/no-such-route", nil), 404, "not_found")
}
