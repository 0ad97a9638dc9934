package chat

import (
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// groupMembers remembers, on one node, the member ids of groups sends have
// read, each under the members version (repo.Conversation.MembersVersion)
// seen before the list was read. A group send reads the group's row anyway;
// when its version is the one an entry was read under, the up to 1,000
// member rows are not read again. Every change of a group's member set
// replaces the version before it is answered (repo.Store.BumpMembers), so a
// send that starts after a removal is answered never uses a list that holds
// the removed member. A change that failed after writing its rows and was
// never retried has not replaced the version: an entry serves at most
// groupEntryMaxAge, so such a list lives no longer than that.
type groupMembers struct {
	mu    sync.Mutex
	cache *lru.Cache[int64, groupEntry]
	held  int // member ids held, at most limit
	limit int
}

type groupEntry struct {
	version int64
	ids     []int64
	read    time.Time
}

// groupEntryMaxAge bounds how long a list read once serves sends; a busy
// group's list is read again this often, a read a minute at most per node.
const groupEntryMaxAge = time.Minute

// newGroupMembers holds at most limit member ids in all (8 bytes each, and
// about 100 per group); limit 0 turns the cache off.
func newGroupMembers(limit int) *groupMembers {
	if limit <= 0 {
		return &groupMembers{}
	}
	g := &groupMembers{limit: limit}
	// Entries are counted out as the cache drops them; the callback runs
	// inside g.mu (every call that can drop an entry holds it).
	c, err := lru.NewWithEvict[int64, groupEntry](max(1, limit/2), func(_ int64, e groupEntry) { g.held -= len(e.ids) })
	if err != nil {
		panic(err) // only for a size <= 0, excluded above
	}
	g.cache = c
	return g
}

// get returns a copy of the group's member ids if they were read under
// version (never 0: unknown versions are not cached).
func (g *groupMembers) get(convID, version int64) ([]int64, bool) {
	if g.cache == nil || version == 0 {
		return nil, false
	}
	g.mu.Lock()
	e, ok := g.cache.Get(convID)
	g.mu.Unlock()
	if !ok || e.version != version || time.Since(e.read) > groupEntryMaxAge {
		return nil, false
	}
	return slices.Clone(e.ids), true // callers may reorder their recipients
}

// remember keeps ids, read after the group's row showed version.
func (g *groupMembers) remember(convID, version int64, ids []int64) {
	if g.cache == nil || version == 0 || len(ids) > g.limit {
		return
	}
	e := groupEntry{version: version, ids: slices.Clone(ids), read: time.Now()}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cache.Remove(convID) // its ids are counted out by the callback
	g.cache.Add(convID, e)
	g.held += len(e.ids)
	for g.held > g.limit {
		if _, _, ok := g.cache.RemoveOldest(); !ok {
			break
		}
	}
}
