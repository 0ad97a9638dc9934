package chat

import (
	"strings"
	"testing"
)

// A login naming no account is verified against a hash of the configured
// cost, not the default one: with any other cost a miss would take a
// different time than a wrong password, and tell which handles exist.
func TestLoginMissVerifiesAtTheConfiguredCost(t *testing.T) {
	params := func(phc string) string { return strings.Join(strings.Split(phc, "$")[:4], "$") }
	for _, cost := range []Argon2Params{{MemoryKiB: 1024, Time: 1, Threads: 1}, {MemoryKiB: 2048, Time: 3, Threads: 2}} {
		cfg := DefaultConfig()
		cfg.Argon2 = cost
		account, err := hashPassword("correct horse", cost)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := params(New(cfg, Deps{}).dummyHash), params(account); got != want {
			t.Errorf("cost %+v: a miss verifies against %q, an account's hash is %q", cost, got, want)
		}
	}
}
