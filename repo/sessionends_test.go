package repo_test

import (
	"context"
	"testing"
	"time"

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
