package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// Group is a seeded group conversation; Members index Population.Users.
type Group struct {
	ID      int64 `json:"id"`
	Members []int `json:"members"`
}

// groupSpec is how many groups of which size, parsed from "200x10,2x1000".
type groupSpec []struct{ count, size int }

func parseGroups(s string) (groupSpec, error) {
	var spec groupSpec
	if s == "" {
		return spec, nil
	}
	for _, part := range strings.Split(s, ",") {
		c, sz, ok := strings.Cut(strings.TrimSpace(part), "x")
		count, err1 := strconv.Atoi(c)
		size, err2 := strconv.Atoi(sz)
		if !ok || err1 != nil || err2 != nil || count < 1 || size < 3 {
			return nil, fmt.Errorf("-groups %q: want COUNTxSIZE[,COUNTxSIZE...], sizes of at least 3", s)
		}
		spec = append(spec, struct{ count, size int }{count, size})
	}
	return spec, nil
}

// memberships lays the groups over n users: each group takes the next size
// users, wrapping around, so every user is in about the same number of groups.
func (spec groupSpec) memberships(n int) [][]int {
	var out [][]int
	next := 0
	for _, g := range spec {
		for range g.count {
			size := min(g.size, n)
			m := make([]int, size)
			for j := range m {
				m[j] = (next + j) % n
			}
			next = (next + size) % n
			out = append(out, m)
		}
	}
	return out
}

// seedGroups writes the groups as chatd's group creation does: a group is
// push below or at pushMax members, pull above (docs/fanout.md).
func seedGroups(ctx context.Context, store *repo.Store, gen *snowflake.Generator, p *Population, spec groupSpec, pushMax int, progress func(string)) error {
	layout := spec.memberships(len(p.Users))
	p.Groups = make([]Group, len(layout))
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8) // each creation writes its members 32 at a time
	for i, members := range layout {
		g.Go(func() error {
			fanout := repo.FanoutPush
			if len(members) > pushMax {
				fanout = repo.FanoutPull
			}
			conv := repo.Conversation{ID: gen.Next(), Kind: repo.KindGroup, Name: fmt.Sprintf("bench group %d", i),
				CreatedBy: p.Users[members[0]], CreatedAt: time.Now().UTC(), Fanout: fanout}
			others := make([]int64, 0, len(members)-1)
			for _, m := range members[1:] {
				others = append(others, p.Users[m])
			}
			if err := store.CreateGroup(gctx, conv, p.Users[members[0]], others, fanout, nil); err != nil {
				return err
			}
			p.Groups[i] = Group{ID: conv.ID, Members: members}
			if d := done.Add(1); d%100 == 0 {
				progress(fmt.Sprintf("seeded %d/%d groups", d, len(layout)))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("seed groups: %w", err)
	}
	return nil
}
