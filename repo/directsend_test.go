package repo_test

import (
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// A direct send's positions read, block flag and one-batch move (schema 0014).
func TestDirectPositionsAndMove(t *testing.T) {
	c := ctx(t)
	a, b := gen.Next(), gen.Next()
	convID := gen.Next()
	// Before the conversation's first move there is no row, and a flag
	// write makes none: a row holding only the flag would be a chat without
	// a place to a node older than schema 0014.
	pos, err := store.DirectPositions(c, convID, [2]int64{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if pos[0].Listed || pos[0].BlocksPeer != nil || pos[1].Listed || pos[1].BlocksPeer != nil {
		t.Fatalf("before the join: %+v", pos)
	}
	if err := store.SetBlocksPeer(c, convID, pos[0], true, time.Now()); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := raw.Query(`SELECT COUNT(*) FROM chat_positions WHERE user_id = ? AND conv_id = ?`, a, convID).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("a flag written before the join left %d rows (%v), want none", rows, err)
	}
	conv, _, err := store.GetOrCreateDirect(c, a, b, convID)
	if err != nil || conv.ID != convID {
		t.Fatalf("create direct: %v %v", conv.ID, err)
	}
	top := func(user int64) repo.ChatKey {
		t.Helper()
		keys, err := store.ChatsPage(c, user, repo.SectionMain, nil, 1)
		if err != nil || len(keys) != 1 {
			t.Fatalf("chat list of %d: %v %v", user, keys, err)
		}
		return keys[0]
	}
	for _, u := range []int64{a, b} {
		if k := top(u); k.ConvID != convID || k.Activity != convID {
			t.Fatalf("joined list of %d: %+v", u, k)
		}
	}
	if pos, err = store.DirectPositions(c, convID, [2]int64{a, b}); err != nil {
		t.Fatal(err)
	}
	if !pos[0].Listed || !pos[1].Listed || pos[0].Activity != convID || pos[0].BlocksPeer != nil {
		t.Fatalf("after the join: %+v", pos)
	}
	if err := store.SetBlocksPeer(c, convID, pos[0], true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if pos, err = store.DirectPositions(c, convID, [2]int64{a, b}); err != nil || pos[0].BlocksPeer == nil || !*pos[0].BlocksPeer {
		t.Fatalf("the flag on the listed row: %+v %v", pos, err)
	}
	msg := gen.Next()
	if err := store.MoveDirect(c, convID, msg, pos); err != nil {
		t.Fatal(err)
	}
	for _, u := range []int64{a, b} {
		if k := top(u); k.ConvID != convID || k.Activity != msg {
			t.Fatalf("moved list of %d: %+v, want activity %d", u, k, msg)
		}
		if live, err := store.CheckChat(c, u, repo.ChatKey{Section: repo.SectionMain, Activity: msg, ConvID: convID}, true); err != nil || !live {
			t.Fatalf("the moved row of %d is not the live one: %v %v", u, live, err)
		}
	}
	if newest, err := store.NewestMessageID(c, convID); err != nil || newest != msg {
		t.Fatalf("newest message %d %v, want %d", newest, err, msg)
	}
	// An older message's move, from positions read before the newer one's
	// landed, moves nothing back.
	if err := store.MoveDirect(c, convID, msg-1, pos); err != nil {
		t.Fatal(err)
	}
	if newest, _ := store.NewestMessageID(c, convID); newest != msg {
		t.Fatalf("newest message %d after an older move, want %d", newest, msg)
	}
	// The moves left the flag alone; an unblock's false replaces it, and a
	// record stamped before it does not come back over it.
	if err := store.SetBlocksPeer(c, convID, pos[0], false, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := store.SetBlocksPeer(c, convID, pos[0], true, time.Now().Add(-repo.BlockRecordLag)); err != nil {
		t.Fatal(err)
	}
	if pos, err = store.DirectPositions(c, convID, [2]int64{a, b}); err != nil {
		t.Fatal(err)
	}
	if pos[0].BlocksPeer == nil || *pos[0].BlocksPeer || pos[0].Activity != msg {
		t.Fatalf("after the unblock: %+v", pos[0])
	}
}
