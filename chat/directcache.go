package chat

import (
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ringchat/ringchat/repo"
)

// directMembers remembers, on one node, the two members of the direct
// conversations sends have read, so a direct send reads no conversation row
// and no member list: two of the three reads it made before.
//
// It is never stale: a direct conversation's kind and fan-out mode never
// change, nothing removes its members or deletes it, and an entry is made only
// once both member rows are read (a conversation being created may show one).
// A block still takes effect at once: send reads it with the positions
// (directPositions, contacts.go).
type directMembers struct {
	cache *lru.Cache[int64, [2]int64]
}

// newDirectMembers keeps at most size conversations (about 100 bytes each);
// size 0 turns the cache off.
func newDirectMembers(size int) *directMembers {
	if size <= 0 {
		return &directMembers{}
	}
	c, err := lru.New[int64, [2]int64](size)
	if err != nil {
		panic(err) // only for size <= 0, excluded above
	}
	return &directMembers{cache: c}
}

// get returns a cached direct conversation's members.
func (d *directMembers) get(convID int64) ([2]int64, bool) {
	if d.cache == nil {
		return [2]int64{}, false
	}
	return d.cache.Get(convID)
}

// remember caches conv's members if it is a direct conversation whose two
// member rows both exist.
func (d *directMembers) remember(conv repo.Conversation, members []repo.Member) {
	if d.cache == nil || conv.Kind != repo.KindDirect || len(members) != 2 {
		return
	}
	d.cache.Add(conv.ID, [2]int64{members[0].UserID, members[1].UserID})
}
