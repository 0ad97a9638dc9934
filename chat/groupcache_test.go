package chat

import (
	"testing"
	"time"
)

// The group member cache answers only for the version a list was read
// under, hands out copies, and holds no more member ids than its limit.
func TestGroupMembersCache(t *testing.T) {
	g := newGroupMembers(10)
	g.remember(1, 7, []int64{1, 2, 3})
	if _, ok := g.get(1, 8); ok {
		t.Fatal("a list read under version 7 served version 8")
	}
	if _, ok := g.get(1, 0); ok {
		t.Fatal("an unknown version (0) was served")
	}
	ids, ok := g.get(1, 7)
	if !ok || len(ids) != 3 {
		t.Fatalf("get(1, 7) = %v, %v", ids, ok)
	}
	ids[0] = 99 // a caller's edit stays its own
	if again, _ := g.get(1, 7); again[0] != 1 {
		t.Fatalf("a caller's edit reached the cache: %v", again)
	}
	g.remember(2, 1, []int64{4, 5, 6, 7})
	g.remember(3, 1, []int64{8, 9, 10, 11}) // 3 + 4 + 4 > 10: the oldest goes
	if _, ok := g.get(1, 7); ok {
		t.Fatal("over its limit the cache kept its oldest list")
	}
	if g.held != 8 {
		t.Fatalf("holds %d ids, want 8", g.held)
	}
	g.remember(2, 2, []int64{4, 5}) // a new version replaces the entry and its count
	if g.held != 6 {
		t.Fatalf("after a replaced entry holds %d ids, want 6", g.held)
	}
	g.remember(4, 1, make([]int64, 11)) // larger than the whole cache: not kept
	if _, ok := g.get(4, 1); ok || g.held != 6 {
		t.Fatalf("a list over the limit was kept (held %d)", g.held)
	}
	if off := newGroupMembers(0); func() bool { off.remember(1, 1, []int64{1}); _, ok := off.get(1, 1); return ok }() {
		t.Fatal("a cache of limit 0 kept a list")
	}
}

// An entry serves no longer than groupEntryMaxAge, whatever its version.
func TestGroupMembersEntryAges(t *testing.T) {
	g := newGroupMembers(10)
	g.remember(1, 7, []int64{1})
	g.mu.Lock()
	e, _ := g.cache.Get(1)
	e.read = time.Now().Add(-groupEntryMaxAge - time.Second)
	g.cache.Add(1, e)
	g.mu.Unlock()
	if _, ok := g.get(1, 7); ok {
		t.Fatalf("an entry read over %s ago served a send", groupEntryMaxAge)
	}
}
