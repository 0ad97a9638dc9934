package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// A login naming no account is verified against a hash of the configured
// cost, not the default one: with any other cost a miss would take a
// different time than a wrong password, and tell which handles exist.
func TestLoginMissVerifiesAtTheConfiguredCost(t *testing.T) {
	for _, cost := range []chat.Argon2Params{{MemoryKiB: 1024, Time: 1, Threads: 1}, {MemoryKiB: 2048, Time: 3, Threads: 2}} {
		e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Argon2 = cost })
		u := e.newUser("dh")
		stored, err := e.store.GetUserByHandle(context.Background(), u.handle)
		if err != nil {
			t.Fatal(err)
		}
		params := func(phc string) string { return strings.Join(strings.Split(phc, "$")[:4], "$") }
		if got, want := params(api.DummyHash(e.api)), params(stored.PasswordHash); got != want {
			t.Errorf("cost %+v: a miss verifies against %q, an account's hash is %q", cost, got, want)
		}
		r := e.do("POST", "/v1/auth/login", "", map[string]any{"handle": u.handle + "x", "password": "correct horse"})
		expect(t, r, 401, "unauthenticated")
	}
}
