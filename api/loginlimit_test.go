package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/ringchat/ringchat/chat"
)

// The per-handle login limit: failures only, reserved before the password
// is checked, per (handle, address) with a larger budget per handle, and
// never flushed by a flood of new keys.

func loginLimitEnv(t *testing.T, tracked int) *env {
	return newEnv(t, withAuth(chat.AuthConfig{HashConcurrency: 64, HandleRate: 0.001, HandleBurst: 3,
		Tracked: tracked, ClientIPHeader: "X-Forwarded-For"}))
}

// loginFrom logs in as if from the client address addr.
func (e *env) loginFrom(addr, handle, password string) int {
	e.t.Helper()
	raw, _ := json.Marshal(map[string]any{"handle": handle, "password": password})
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/auth/login", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	r.Body.Close()
	return r.StatusCode
}

func TestLoginFailuresOfAHandleSurviveAFloodOfNewKeys(t *testing.T) {
	e := loginLimitEnv(t, 50)
	victim := e.newUser("lf")
	for i := 0; i < 3; i++ {
		if st := e.loginFrom("192.0.2.1", victim.handle, "guess guess"); st != 401 {
			t.Fatalf("guess %d: %d", i, st)
		}
	}
	if st := e.loginFrom("192.0.2.1", victim.handle, "guess guess"); st != 429 {
		t.Fatalf("guess past the budget: %d, want 429", st)
	}
	// Many addresses, each trying a handle that does not exist: every one a
	// new key, far more than the limiter tracks.
	for i := 0; i < 300; i++ {
		e.loginFrom(fmt.Sprintf("2001:db8:%x::1", i), fmt.Sprintf("nobody-%d", i), "guess guess")
	}
	if st := e.loginFrom("192.0.2.1", victim.handle, "guess guess"); st != 429 {
		t.Fatalf("after a flood of new keys the victim's failure budget was back: %d, want 429", st)
	}
}

func TestConcurrentLoginGuessesStayWithinTheBudget(t *testing.T) {
	e := loginLimitEnv(t, 100)
	victim := e.newUser("lc")
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := e.loginFrom("192.0.2.2", victim.handle, "guess guess")
			mu.Lock()
			counts[st]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[401] > 3 || counts[401]+counts[429] != 30 {
		t.Fatalf("30 concurrent guesses, budget 3: %v", counts)
	}
}

func TestAttackerAddressCannotLockTheOwnerOut(t *testing.T) {
	e := loginLimitEnv(t, 100)
	owner := e.newUser("lo")
	for i := 0; i < 20; i++ {
		e.loginFrom("198.51.100.7", owner.handle, "guess guess")
	}
	if st := e.loginFrom("198.51.100.7", owner.handle, "guess guess"); st != 429 {
		t.Fatalf("attacker past the budget: %d, want 429", st)
	}
	if st := e.loginFrom("203.0.113.9", owner.handle, "correct horse"); st != 200 {
		t.Fatalf("owner from their own address while an attacker spends the handle's budget: %d, want 200", st)
	}
	if st := e.loginFrom("203.0.113.9", owner.handle, "typo typo"); st != 401 {
		t.Fatalf("owner's own mistyped password: %d, want 401", st)
	}
	// Successes give their reservation back: the owner never runs out.
	for i := 0; i < 5; i++ {
		if st := e.loginFrom("203.0.113.9", owner.handle, "correct horse"); st != 200 {
			t.Fatalf("owner login %d: %d", i, st)
		}
	}
}
