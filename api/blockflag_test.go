package api_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
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
	pos, err := e.store.DirectPositions(ctx, convID, [2]int64{bID, sID})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, blocker.do("PUT", "/v1/blocks/"+sender.userID, nil), 204)
	if err := e.store.SetBlocksPeer(ctx, convID, pos[0], false, read.Add(-repo.BlockRecordLag)); err != nil {
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
	// Sends in flight on both nodes when the block starts, and for a while
	// after it answers: the window a stale flag would show in.
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

// A block whose first flag write finds no direct conversation, while the
// other user creates one through another node and sends: that send may read
// blocks_by_user before the block lands and record "not blocked" on the new
// row. The block writes the flag again once blocks_by_user holds it, so once
// it is acknowledged no send gets through. The blocker's node reaches
// Cassandra through a proxy adding latency, which widens the window between
// the block's statements to hundreds of milliseconds; pairs started at
// offsets across it put creations and sends at every point of it.
func TestBlockAcknowledgedWhileTheDMIsCreated(t *testing.T) {
	_, ks := keyspace(t)
	session, proxy := cqltest.ProxiedSession(t, ks, 5*time.Second)
	e1, e2 := newEnvOn(t, session), newEnv(t)
	const pairs, step = 40, 50 * time.Millisecond
	type pair struct{ blocker, sender *client }
	ps := make([]pair, pairs)
	for i := range ps {
		ps[i] = pair{e1.newUser(fmt.Sprintf("bdc%d", i)), e1.newUser(fmt.Sprintf("bds%d", i))}
	}
	proxy.SetDelay(100 * time.Millisecond)
	convs := make([]string, pairs)
	blockSweep(pairs, step, func(i int) {
		if r := ps[i].blocker.do("PUT", "/v1/blocks/"+ps[i].sender.userID, nil); r.status != 204 {
			t.Errorf("block %d: %d %s", i, r.status, r.raw)
		}
	}, func(i int) {
		via2 := ps[i].sender.on(e2)
		r := via2.do("POST", "/v1/conversations", map[string]any{"kind": "direct", "member_ids": []string{ps[i].blocker.userID}})
		if r.status != 200 && r.status != 201 {
			return // refused: the block landed first
		}
		convs[i] = r.body["conversation"].(map[string]any)["id"].(string)
		via2.send(convs[i], "first", "hello?")
	})
	proxy.SetDelay(0)
	made := 0
	for i, p := range ps {
		if convs[i] == "" {
			continue
		}
		made++
		for _, c := range []*client{p.sender, p.sender.on(e2)} {
			if r := c.send(convs[i], fmt.Sprintf("after-%d", i), "still there?"); r.status != 403 {
				t.Errorf("pair %d (created %s into the block): a send after the block was acknowledged got %d %s (blocker's flag %v)",
					i, time.Duration(i)*step, r.status, r.raw, blockFlag(t, e1, convs[i], p.blocker, p.sender))
			}
		}
	}
	if made == 0 || made == pairs {
		t.Fatalf("%d of %d creations came before their block ended: the sweep missed the block's window", made, pairs)
	}
	t.Logf("%d of %d direct conversations were created while their block ran", made, pairs)
}

// A conversation whose blocker's row is not listed (a creation that stopped
// half-way) gets no flag from a block or from a send's fallback, so a node
// older than schema 0014 never reads a flag-only row as a chat; sends still
// find the block through blocks_by_user.
func TestBlockFlagIsNeverARowsOnlyCell(t *testing.T) {
	e := newEnv(t)
	session, _ := keyspace(t)
	blocker, sender := e.newUser("bfo"), e.newUser("bfp")
	dm := sender.direct(blocker)
	bID, convID := mustID(t, blocker.userID), mustID(t, dm)
	if err := session.Query(`DELETE FROM chat_positions WHERE user_id = ? AND conv_id = ?`, bID, convID).Exec(); err != nil {
		t.Fatal(err)
	}
	rows := func() int {
		t.Helper()
		var n int
		if err := session.Query(`SELECT COUNT(*) FROM chat_positions WHERE user_id = ? AND conv_id = ?`, bID, convID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	expect(t, blocker.do("PUT", "/v1/blocks/"+sender.userID, nil), 204)
	if n := rows(); n != 0 {
		t.Fatalf("the block left %d rows on the blocker's unlisted chat, want none", n)
	}
	expect(t, sender.send(dm, "unlisted", "hello?"), 403, "permission_denied")
	if n := rows(); n != 0 {
		t.Fatalf("the refused send's fallback left %d rows, want none", n)
	}
	expect(t, blocker.do("DELETE", "/v1/blocks/"+sender.userID, nil), 204)
	sender.mustSend(dm, "unblocked") // lists the blocker's row again
	if n, f := rows(), blockFlag(t, e, dm, blocker, sender); n != 1 || f != nil {
		t.Fatalf("after the send that listed it again: %d rows, flag %v; want 1, unknown", n, f)
	}
	// Its record is stamped BlockRecordLag in the past, under the delete's
	// tombstone: the flag stays unknown and sends keep reading blocks_by_user.
	sender.mustSend(dm, "recorded")
	expect(t, blocker.do("PUT", "/v1/blocks/"+sender.userID, nil), 204)
	expect(t, sender.send(dm, "listed", "hello?"), 403, "permission_denied")
}

// A row that is not listed but holds a flag (a node older than this check
// wrote one, or a flag write raced the row's delete) is not trusted either
// way: blocks and unblocks write only listed rows, so it would be stale.
func TestAnUnlistedRowsFlagIsNotTrusted(t *testing.T) {
	e := newEnv(t)
	session, _ := keyspace(t)
	for _, stale := range []bool{false, true} {
		blocker, sender := e.newUser("bfu"), e.newUser("bfv")
		dm := sender.direct(blocker)
		bID, convID := mustID(t, blocker.userID), mustID(t, dm)
		if stale { // blocked when the flag was written; unblocked since
			expect(t, blocker.do("PUT", "/v1/blocks/"+sender.userID, nil), 204)
		}
		if err := session.Query(`DELETE FROM chat_positions WHERE user_id = ? AND conv_id = ?`, bID, convID).Exec(); err != nil {
			t.Fatal(err)
		}
		if err := session.Query(`UPDATE chat_positions USING TTL 3600 SET blocks_peer = ? WHERE user_id = ? AND conv_id = ?`, stale, bID, convID).Exec(); err != nil {
			t.Fatal(err)
		}
		if stale {
			expect(t, blocker.do("DELETE", "/v1/blocks/"+sender.userID, nil), 204)
			sender.mustSend(dm, "after the unblock")
		} else {
			expect(t, blocker.do("PUT", "/v1/blocks/"+sender.userID, nil), 204)
			expect(t, sender.send(dm, "after-the-block", "hello?"), 403, "permission_denied")
		}
	}
}

// A block through a slow node racing an unblock through another: each
// writes its rows and flags at its own one timestamp, so whichever is later
// wins in blocks_by_user and in the flag alike, and sends follow the list.
// Unblocks start at steps across the block's (widened) statements.
func TestBlockRacingAnUnblockLeavesTheTablesAgreeing(t *testing.T) {
	_, ks := keyspace(t)
	session, proxy := cqltest.ProxiedSession(t, ks, 5*time.Second)
	e1, e2 := newEnvOn(t, session), newEnv(t)
	const pairs, step = 30, 100 * time.Millisecond
	type pair struct {
		blocker, sender *client
		dm              string
	}
	ps := make([]pair, pairs)
	for i := range ps {
		b, s := e1.newUser(fmt.Sprintf("bru%d", i)), e1.newUser(fmt.Sprintf("brv%d", i))
		dm := s.direct(b)
		s.mustSend(dm, "before") // lists both rows and records the flag
		ps[i] = pair{b, s, dm}
	}
	proxy.SetDelay(100 * time.Millisecond)
	blockSweep(pairs, step, func(i int) {
		if r := ps[i].blocker.do("PUT", "/v1/blocks/"+ps[i].sender.userID, nil); r.status != 204 {
			t.Errorf("block %d: %d %s", i, r.status, r.raw)
		}
	}, func(i int) {
		if r := ps[i].blocker.on(e2).do("DELETE", "/v1/blocks/"+ps[i].sender.userID, nil); r.status != 204 {
			t.Errorf("unblock %d: %d %s", i, r.status, r.raw)
		}
	})
	proxy.SetDelay(0)
	listed := 0
	for i, p := range ps {
		blocked, err := e2.store.Blocks(context.Background(), mustID(t, p.blocker.userID), mustID(t, p.sender.userID))
		if err != nil {
			t.Fatal(err)
		}
		if blocked {
			listed++
		}
		f := blockFlag(t, e2, p.dm, p.blocker, p.sender)
		r := p.sender.on(e2).send(p.dm, fmt.Sprintf("after-%d", i), "still there?")
		if (f != nil && *f != blocked) || blocked != (r.status == 403) {
			t.Errorf("pair %d (unblock %s into the block): blocks_by_user %v, flag %v, send %d", i, time.Duration(i)*step, blocked, f, r.status)
		}
	}
	t.Logf("%d of %d pairs ended blocked (the block's timestamp later than the unblock's)", listed, pairs)
}

// blockSweep runs, for each of n pairs at once, block(i) and, i steps
// later, other(i), and waits for all: other swept across the block's window.
func blockSweep(n int, step time.Duration, block, other func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() { defer wg.Done(); block(i) }()
		go func() { defer wg.Done(); time.Sleep(time.Duration(i) * step); other(i) }()
	}
	wg.Wait()
}
