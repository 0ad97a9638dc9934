package api_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// A direct send reads the block state from the peer's chat_positions row
// (schema 0014) instead of blocks_by_user: these tests hold it to what the
// read of blocks_by_user gave.

// on is c's device answering through another node (e2 shares the keyspace).
func (c *client) on(e2 *env) *client {
	cc := *c
	cc.e = e2
	return &cc
}

func blockFlag(t *testing.T, e *env, conv string, blocker, sender *client) *bool {
	t.Helper()
	pos, err := e.store.DirectPositions(context.Background(), mustID(t, conv), [2]int64{mustID(t, blocker.userID), mustID(t, sender.userID)})
	if err != nil {
		t.Fatal(err)
	}
	return pos[0].BlocksPeer
}

// A block acknowledged by one node refuses the very next send through
// another node that has sent in the conversation before (its direct cache
// and the peer's flag warm), and an unblock there lets the next one through.
func TestBlockOnOneNodeBindsSendsOnAnother(t *testing.T) {
	e1, e2 := newEnv(t), newEnv(t)
	blocker, sender := e1.newUser("bfa"), e1.newUser("bfb")
	dm := sender.direct(blocker)
	via2 := sender.on(e2)
	via2.mustSend(dm, "before")
	if f := blockFlag(t, e1, dm, blocker, sender); f == nil || *f {
		t.Fatalf("after a send the blocker's flag is %v, want false", f)
	}
	for round := range 3 {
		expect(t, blocker.do("PUT", "/v1/blocks/"+sender.userID, nil), 204)
		expect(t, via2.send(dm, fmt.Sprintf("blocked-%d", round), "hello?"), 403, "permission_denied")
		expect(t, sender.send(dm, fmt.Sprintf("blocked1-%d", round), "hello?"), 403, "permission_denied")
		expect(t, blocker.do("DELETE", "/v1/blocks/"+sender.userID, nil), 204)
		via2.mustSend(dm, "after")
	}
}

// Rows written before schema 0014 have no flag: the send reads
// blocks_by_user, and records the answer stamped in the past, so it never
// overrides a block acknowledged after its read.
func TestBlockFlagFallsBackAndNeverOverridesALaterBlock(t *testing.T) {
	e := newEnv(t)
	blocker, sender := e.newUser("bfc"), e.newUser("bfd")
	dm := sender.direct(blocker)
	ctx := context.Background()
	bID, sID, convID := mustID(t, blocker.userID), mustID(t, sender.userID), mustID(t, dm)
	// A block written as an older node wrote it: blocks_by_user only.
	if err := e.store.Block(ctx, bID, sID, time.Now()); err != nil {
		t.Fatal(err)
	}
	expect(t, sender.send(dm, "old-block", "hello?"), 403, "permission_denied")
	if f := blockFlag(t, e, dm, blocker, sender); f == nil || !*f {
		t.Fatalf("the fallback recorded %v, want true", f)
	}
	expect(t, blocker.do("DELETE", "/v1/blocks/"+sender.userID, nil), 204)
	sender.mustSend(dm, "unblocked")

	// A send that read "not blocked" just before a block, and records it
	// only after the block answered, loses to the block.
	read := time.Now()
	expect(t, blocker.do("PUT", "/v1/blocks/"+sender.userID, nil), 204)
	if err := e.store.SetBlocksPeer(ctx, bID, convID, false, read.Add(-2*repo.ClockSkew)); err != nil {
		t.Fatal(err)
	}
	expect(t, sender.send(dm, "late-record", "hello?"), 403, "permission_denied")
}

// A block racing a stream of sends through two nodes: no send that starts
// after the block is acknowledged is acknowledged.
func TestBlockRacingSends(t *testing.T) {
	e1, e2 := newEnv(t), newEnv(t)
	blocker, sender := e1.newUser("bfe"), e1.newUser("bff")
	dm := sender.direct(blocker)
	senders := []*client{sender, sender.on(e2)}
	for _, c := range senders {
		c.mustSend(dm, "warm")
	}
	var blockedAt atomic.Int64 // unix ns when the block was answered; 0: not yet
	var late atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, c := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				started := time.Now().UnixNano()
				r := c.send(dm, fmt.Sprintf("race-%d-%d", i, n), "hi")
				if at := blockedAt.Load(); at != 0 && started > at && r.status < 300 {
					late.Add(1)
					t.Errorf("send started %v after the block was acknowledged got %d", time.Duration(started-at), r.status)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	expect(t, blocker.do("PUT", "/v1/blocks/"+sender.userID, nil), 204)
	blockedAt.Store(time.Now().UnixNano())
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if late.Load() > 0 {
		t.Fatalf("%d sends acknowledged after the block", late.Load())
	}
}
