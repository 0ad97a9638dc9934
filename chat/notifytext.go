package chat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ringchat/ringchat/repo"
)

const (
	previewRunes = 200
	// badgeChats is how many of a user's chats the badge's unread total covers.
	badgeChats = 20
)

// bucketCache shares the reads one bucket's notices repeat: a user's
// targets, a device's session state, a sender, a user's badge.
type bucketCache struct {
	n      *Notifier
	mu     sync.Mutex
	tgts   map[int64][]repo.PushTarget
	live   map[[2]int64]bool
	users  map[int64]repo.User
	marks  map[int64]int
	tokens map[int64]map[string]bool // message id -> the handles it names
}

func newBucketCache(n *Notifier) *bucketCache {
	return &bucketCache{n: n, tgts: map[int64][]repo.PushTarget{}, live: map[[2]int64]bool{},
		users: map[int64]repo.User{}, marks: map[int64]int{}, tokens: map[int64]map[string]bool{}}
}

// cached returns m[k], or what read gives (stored for the rest of the bucket).
func cached[K comparable, V any](bc *bucketCache, m map[K]V, k K, read func() (V, error)) (V, error) {
	bc.mu.Lock()
	v, ok := m[k]
	bc.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := read()
	if err != nil {
		return v, err
	}
	bc.mu.Lock()
	m[k] = v
	bc.mu.Unlock()
	return v, nil
}

func (bc *bucketCache) targets(ctx context.Context, userID int64) ([]repo.PushTarget, error) {
	return cached(bc, bc.tgts, userID, func() ([]repo.PushTarget, error) { return bc.n.app.store.PushTargets(ctx, userID) })
}

func (bc *bucketCache) deviceLive(ctx context.Context, userID, deviceID int64) (bool, error) {
	return cached(bc, bc.live, [2]int64{userID, deviceID}, func() (bool, error) { return bc.n.app.store.DeviceLive(ctx, userID, deviceID) })
}

func (bc *bucketCache) user(ctx context.Context, userID int64) (repo.User, error) {
	return cached(bc, bc.users, userID, func() (repo.User, error) {
		u, err := bc.n.app.store.GetUser(ctx, userID)
		if repo.IsCode(err, repo.CodeNotFound) {
			return repo.User{}, nil
		}
		return u, err
	})
}

// mentioner is the sender of the newest of msgs that names handle; each
// message's handles are found once per bucket, not once per member.
func (bc *bucketCache) mentioner(msgs []repo.Message, handle string) (int64, bool) {
	if handle == "" {
		return 0, false
	}
	h := []byte(handle)
	for i := range h {
		h[i] = asciiLower(h[i])
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		toks, _ := cached(bc, bc.tokens, m.ID, func() (map[string]bool, error) { return mentionTokens(m.Body), nil })
		if toks[string(h)] {
			return m.SenderID, true
		}
	}
	return 0, false
}

// badge is the user's unread total over their first badgeChats chats (each
// chat's count is itself capped).
func (bc *bucketCache) badge(ctx context.Context, userID int64) (int, error) {
	return cached(bc, bc.marks, userID, func() (int, error) {
		entries, _, err := bc.n.app.ChatList(ctx, repo.Session{UserID: userID}, []int{repo.SectionPinned, repo.SectionMain}, nil, badgeChats)
		total := 0
		for _, e := range entries {
			total += e.UnreadCount
		}
		return total, err
	})
}

// text is a notice's title (the sender, or the group's name) and body (a
// preview of the newest message, or a count when previews are off).
func (n *Notifier) text(ctx context.Context, bc *bucketCache, conv repo.Conversation, newest repo.Message, count int, previews bool) (string, string, error) {
	sender, err := bc.user(ctx, newest.SenderID)
	if err != nil {
		return "", "", err
	}
	who := sender.DisplayName
	if who == "" {
		who = sender.Handle
	}
	if sender.Deleted() || who == "" {
		who = "Deleted user" // its profile may not be emptied yet: none of it shows
	}
	title := who
	if conv.Kind != repo.KindDirect && conv.Name != "" {
		title = conv.Name
	}
	if !previews {
		if count == 1 {
			return title, "New message", nil
		}
		return title, strconv.Itoa(count) + " new messages", nil
	}
	body := preview(newest)
	if conv.Kind != repo.KindDirect {
		body = who + ": " + body
	}
	if count > 1 {
		body = fmt.Sprintf("%s (+%d more)", body, count-1)
	}
	return title, body, nil
}

func preview(m repo.Message) string {
	b := strings.TrimSpace(m.Body)
	if b == "" && len(m.Media) > 0 {
		return "Sent an attachment"
	}
	if utf8.RuneCountInString(b) > previewRunes {
		r := []rune(b)
		b = string(r[:previewRunes]) + "…"
	}
	return b
}
