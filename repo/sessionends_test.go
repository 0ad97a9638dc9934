package repo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
)

// A feed row lives for the largest allowed bound's readers, not for its
// writer's bound: during a rolling change of --session-end-bound a node
// reading every 10m/4 must still find rows a 5 s node wrote.
func TestSessionEndRowsLiveForTheSlowestReader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	userID, token := gen.Next(), []byte("ttl-"+randHex())
	if err := store.DeleteSession(ctx, userID, token); err != nil {
		t.Fatal(err)
	}
	var ttl int
	found := false
	now := time.Now()
	for b := now.Add(-repo.SessionEndBucket).UnixMilli(); b <= now.Add(repo.SessionEndBucket).UnixMilli(); b += 1000 {
		bucket := b - b%repo.SessionEndBucket.Milliseconds()
		iter := raw.Query(`SELECT token_hash, TTL(user_id) FROM session_ends WHERE bucket = ?`, bucket).WithContext(ctx).Iter()
		var tok []byte
		var left int
		for iter.Scan(&tok, &left) {
			if string(tok) == string(token) {
				ttl, found = left, true
			}
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatal("no feed row for the ended session")
	}
	slowest := repo.MaxSessionEndBound / 4 // the slowest allowed reader's cadence
	if gap := repo.SessionEndMaxGap(time.Duration(ttl) * time.Second); gap < slowest {
		t.Fatalf("a feed row lives %ds: a reader may go only %s between reads, less than the %s of the slowest allowed bound", ttl, gap, slowest)
	}
}

// writeSessionEnds writes n feed rows stamped from at on, 1 ms apart (so
// they span buckets when n passes 10,000 or at sits near a bucket's end),
// as n session ends would, and returns their tokens.
func writeSessionEnds(t *testing.T, session *gocql.Session, at time.Time, n int) map[string]bool {
	t.Helper()
	tokens := make([][]byte, n)
	for i := range tokens {
		tokens[i] = []byte(fmt.Sprintf("storm-%s-%06d", randHex(), i))
	}
	g, gctx := errgroup.WithContext(t.Context())
	g.SetLimit(32)
	for i, tok := range tokens {
		g.Go(func() error {
			stamp := at.Add(time.Duration(i) * time.Millisecond)
			ms := stamp.UnixMilli()
			return session.Query(`INSERT INTO session_ends (bucket, ended_at, token_hash, user_id) VALUES (?, ?, ?, ?) USING TTL 600`,
				ms-ms%repo.SessionEndBucket.Milliseconds(), stamp, tok, int64(i+1)).WithContext(gctx).Exec()
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, n)
	for _, tok := range tokens {
		out[string(tok)] = true
	}
	return out
}

// A logout storm is read page by page, never more than a page held at once,
// and a read listing more rows than any bound (once 200,000: then the whole
// read failed) lists them all. The page is lowered so the storm is small.
func TestSessionEndsReadPageByPage(t *testing.T) {
	// A window of its own, long past, in two buckets, that no other test writes.
	at := time.UnixMilli(1_000_000_000_000 + rand.Int64N(1e9)*10_000 + 9_000)
	const n, page = 12_345, 500
	want := writeSessionEnds(t, raw, at, n)
	seen := map[string]bool{}
	pages, largest := 0, 0
	err := store.SessionEndsSince(ctx(t), at, at.Add(n*time.Millisecond), page, func(ends []repo.SessionEnd) {
		pages++
		largest = max(largest, len(ends))
		for _, e := range ends {
			seen[string(e.TokenHash)] = true
		}
	})
	if err != nil {
		t.Fatalf("reading %d ends %d at a time: %v", n, page, err)
	}
	if largest > page || pages < n/page {
		t.Fatalf("%d ends came in %d pages, the largest %d rows; want pages of at most %d", n, pages, largest, page)
	}
	if len(seen) != n {
		t.Fatalf("read %d distinct ends, want %d", len(seen), n)
	}
	for tok := range want {
		if !seen[tok] {
			t.Fatalf("end %s not read", tok)
		}
	}
}
