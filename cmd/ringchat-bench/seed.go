package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// Population is the seeded users, one device each, paired into direct
// conversations (user 2k with 2k+1). It is saved to a file and reused by
// later runs against the same keyspace.
type Population struct {
	Keyspace string   `json:"keyspace"`
	Users    []int64  `json:"users"`
	Tokens   []string `json:"tokens"`
	Convs    []int64  `json:"convs"` // Convs[k] joins Users[2k] and Users[2k+1]
	Groups   []Group  `json:"groups,omitempty"`
}

// seed writes n users through the project's own repo code: the rows the API
// writes, without paying n password hashes (they share one precomputed hash;
// nobody logs in with them).
func seed(ctx context.Context, store *repo.Store, o options, spec groupSpec, progress func(string)) (*Population, error) {
	n, keyspace := o.users, o.keyspace
	path := filepath.Join(o.cache, fmt.Sprintf("population-%s-%d-%s-push%d.json", keyspace, n, strings.ReplaceAll(o.groups, ",", "+"), o.pushMax))
	if raw, err := os.ReadFile(path); err == nil {
		var p Population
		if json.Unmarshal(raw, &p) == nil && len(p.Users) == n {
			progress(fmt.Sprintf("reusing %d seeded users from %s", n, path))
			return &p, nil
		}
	}
	gen, err := snowflake.NewGenerator(1000 + int64(os.Getpid()%20)) // ids of the seeding tool only
	if err != nil {
		return nil, err
	}
	p := &Population{Keyspace: keyspace, Users: make([]int64, n), Tokens: make([]string, n), Convs: make([]int64, n/2)}
	now := time.Now().UTC()
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	stamp := gen.Next()
	for i := 0; i < n; i++ {
		g.Go(func() error {
			id := gen.Next()
			u := repo.User{ID: id, Handle: fmt.Sprintf("bench_%x_%d", stamp, i), DisplayName: "bench",
				PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2VlZGVkc2VlZGVk$c2VlZGVkLW5vLWxvZ2luLXVzZXMtdGhpcw", CreatedAt: now, UpdatedAt: now}
			if err := store.CreateUser(gctx, u); err != nil {
				return err
			}
			tok := make([]byte, 32)
			_, _ = rand.Read(tok)
			token := base64.RawURLEncoding.EncodeToString(tok)
			h := sha256.Sum256([]byte(token))
			if _, err := store.CreateDeviceSession(gctx, repo.Device{UserID: id, ID: gen.Next(), Name: "bench"}, h[:], now); err != nil {
				return err
			}
			p.Users[i], p.Tokens[i] = id, token
			if d := done.Add(1); d%5000 == 0 {
				progress(fmt.Sprintf("seeded %d/%d users", d, n))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}
	var mu sync.Mutex
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(64)
	for k := 0; k < n/2; k++ {
		g.Go(func() error {
			conv, _, err := store.GetOrCreateDirect(gctx, p.Users[2*k], p.Users[2*k+1], gen.Next())
			if err != nil {
				return err
			}
			mu.Lock()
			p.Convs[k] = conv.ID
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("seed conversations: %w", err)
	}
	if err := seedGroups(ctx, store, gen, p, spec, o.pushMax, progress); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.cache, 0o755); err == nil {
		raw, _ := json.Marshal(p)
		_ = os.WriteFile(path, raw, 0o600)
	}
	progress(fmt.Sprintf("seeded %d users, %d direct conversations and %d groups", n, n/2, len(p.Groups)))
	return p, nil
}
