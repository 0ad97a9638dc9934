package cluster

import (
	"io"
	"log/slog"
	"testing"

	"github.com/ringchat/ringchat/api/ws"
)

// A delivery to a large group is looked up in chunks: every user once, no
// chunk over routeChunk, so one slow read drops at most one chunk's live copies.
func TestLargeDeliveriesAreLookedUpInChunks(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := New(Config{Secret: "s", Log: log}, nil, ws.NewHub(ws.Config{}, log))
	users := make([]int64, 2*routeChunk+50)
	for i := range users {
		users[i] = int64(i + 1)
	}
	c.Deliver(users, []byte(`{}`))
	seen := map[int64]int{}
	chunks := 0
	for len(c.deliveries) > 0 {
		d := <-c.deliveries
		chunks++
		if len(d.users) > routeChunk {
			t.Fatalf("a look-up of %d users; at most %d", len(d.users), routeChunk)
		}
		for _, u := range d.users {
			seen[u]++
		}
	}
	if chunks != 3 || len(seen) != len(users) {
		t.Fatalf("%d chunks covering %d users; want 3 covering %d", chunks, len(seen), len(users))
	}
	for u, n := range seen {
		if n != 1 {
			t.Fatalf("user %d in %d chunks", u, n)
		}
	}
}
