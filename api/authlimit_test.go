package api_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

func withAuth(a chat.AuthConfig) envOption {
	return func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Auth = a }
}

// Login is limited per handle (failures only, so the owner's own logins
// never count) and per client address; both answer 429 with Retry-After.
func TestLoginRateLimits(t *testing.T) {
	e := newEnv(t, withAuth(chat.AuthConfig{HashConcurrency: 64, AddressRate: 1, AddressBurst: 12, HandleRate: 1, HandleBurst: 3, Tracked: 100}))
	victim := uniqueHandle("rl")
	expect(t, e.do("POST", "/v1/auth/register", "", map[string]any{"handle": victim, "password": "correct horse"}), 201)
	login := func(handle, password string) resp {
		return e.do("POST", "/v1/auth/login", "", map[string]any{"handle": handle, "password": password})
	}
	for i := 0; i < 3; i++ {
		expect(t, login(victim, "correct horse"), 200) // successes spend no handle budget
	}
	for i := 0; i < 3; i++ {
		expect(t, login(victim, "guess guess"), 401, "unauthenticated")
	}
	r := login(victim, "guess again")
	expect(t, r, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Another handle from the same address still has its own budget, until
	// the address's runs out (7 attempts spent, burst 12).
	for i := 0; i < 5; i++ {
		expect(t, login(uniqueHandle("nobody"), "guess guess"), 401, "unauthenticated")
	}
	expect(t, login(uniqueHandle("nobody"), "guess guess"), 429, "rate_limited")
}

func TestRegisterAndHandleLookupRateLimits(t *testing.T) {
	e := newEnv(t, withAuth(chat.AuthConfig{HashConcurrency: 64, AddressRate: 1, AddressBurst: 3, HandleRate: 1, HandleBurst: 2, Tracked: 100}))
	var u *client
	for i := 0; i < 3; i++ {
		h := uniqueHandle("rr")
		expect(t, e.do("POST", "/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse"}), 201)
		if u == nil {
			u = e.login(h)
		}
	}
	expect(t, e.do("POST", "/v1/auth/register", "", map[string]any{"handle": uniqueHandle("rr"), "password": "correct horse"}), 429, "rate_limited")
	// Look-ups: per caller (burst 2) before the address (burst 3) runs out.
	expect(t, u.do("GET", "/v1/users?handle="+u.handle, nil), 200)
	expect(t, u.do("GET", "/v1/users?handle=no_such_handle_9", nil), 404, "not_found")
	expect(t, u.do("GET", "/v1/users?handle="+u.handle, nil), 429, "rate_limited")
}

// Past the hashing bound a login is refused at once with 503 and
// Retry-After, instead of queueing its 19 MiB.
func TestPasswordHashingIsBounded(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) {
		c.Auth = chat.AuthConfig{HashConcurrency: 1}
		c.Argon2 = chat.Argon2Params{MemoryKiB: 16 * 1024, Time: 3, Threads: 1} // slow enough to overlap
	})
	h := uniqueHandle("hb")
	expect(t, e.do("POST", "/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse"}), 201)
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	var slowBusy time.Duration
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/auth/login", strings.NewReader(`{"handle":"`+h+`","password":"wrong password"}`))
			req.Header.Set("Content-Type", "application/json")
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			counts[r.StatusCode]++
			if r.StatusCode == 503 {
				if r.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				slowBusy = max(slowBusy, time.Since(began))
			}
		}()
	}
	wg.Wait()
	if counts[503] == 0 || counts[401]+counts[503] != n {
		t.Fatalf("statuses %v: want some 401 and the rest 503 at once", counts)
	}
	if slowBusy > 2*time.Second {
		t.Fatalf("a refused login took %s: it queued", slowBusy)
	}
}

// A claim whose account row was never written (the claim timed out, or the
// node died before the second write) used to hold the handle forever.
func TestAbandonedHandleClaimIsRecovered(t *testing.T) {
	e := newEnv(t, func(_ *api.Config, r *repo.Retention, _ *ws.Config) { r.HandleClaim = 5 * time.Second })
	session, _ := keyspace(t)
	h := uniqueHandle("Orphan")
	var applied bool
	var err error
	// Exactly the claim a registration writes, with no account behind it.
	if applied, err = session.Query(`INSERT INTO users_by_handle (handle, user_id) VALUES (?, ?) IF NOT EXISTS`,
		strings.ToLower(h), int64(424242)).ScanCAS(new(string), new(int64)); err != nil || !applied {
		t.Fatalf("orphan claim: applied %v, %v", applied, err)
	}
	register := func() resp {
		return e.do("POST", "/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse"})
	}
	// Young: the registration may still be under way; retry later, not "taken".
	r := register()
	expect(t, r, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.status == 503 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		r = register()
	}
	expect(t, r, 201)
	c := e.login(h)
	if c.userID != r.body["user"].(map[string]any)["id"] {
		t.Fatalf("login found user %s, registered %v", c.userID, r.body["user"])
	}
	// A handle with an account stays taken, however old its claim.
	time.Sleep(5500 * time.Millisecond)
	expect(t, e.do("POST", "/v1/auth/register", "", map[string]any{"handle": strings.ToUpper(h), "password": "other pass"}), 409, "conflict")
}

// Registrations racing for one abandoned claim: exactly one takes it.
func TestConcurrentTakeoverOfAnAbandonedClaim(t *testing.T) {
	e := newEnv(t, func(_ *api.Config, r *repo.Retention, _ *ws.Config) { r.HandleClaim = time.Second })
	session, _ := keyspace(t)
	h := uniqueHandle("orph")
	if err := session.Query(`INSERT INTO users_by_handle (handle, user_id) VALUES (?, ?) IF NOT EXISTS`, h, int64(434343)).Exec(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the claim grows past the 1 s grace: a time, nothing to poll
	const n = 8
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.do("POST", "/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse"}).status
		}()
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		switch s {
		case 201:
			created++
		case 409, 503:
		default:
			t.Errorf("status %d", s)
		}
	}
	if created != 1 {
		t.Fatalf("%d registrations took the abandoned handle, want exactly 1", created)
	}
}
