package chat

import (
	"container/heap"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// AuthConfig bounds what password endpoints may cost a node.
type AuthConfig struct {
	// HashConcurrency is the most argon2id computations (19 MiB each by
	// default) a node runs at once; a request past it gets 503 at once
	// (0: GOMAXPROCS).
	HashConcurrency int
	// AddressRate is attempts a minute one client address may make at each
	// of login, register and handle look-up (0: unlimited); AddressBurst
	// is its burst.
	AddressRate  float64
	AddressBurst int
	// HandleRate is failed logins a minute per handle and client address
	// (ten times as many per handle from all addresses), registrations a
	// minute per handle, handle look-ups a minute per caller, and failed
	// password changes a minute per user (0: unlimited); HandleBurst is its
	// burst (ten times as much per handle from all addresses).
	HandleRate  float64
	HandleBurst int
	// Tracked is how many addresses (and, apart, handles) a node keeps
	// limiters for; past it, the one soonest full again is forgotten.
	Tracked int
	// ClientIPHeader names a header a trusted proxy sets to the client's
	// address (its last comma-separated entry is used); "" uses the TCP
	// peer, which is right unless chatd sits behind a proxy. The HTTP
	// adapter reads it; the limits are keyed by the address it gives.
	ClientIPHeader string
}

// DefaultAuthConfig returns the documented defaults.
func DefaultAuthConfig() AuthConfig {
	return AuthConfig{AddressRate: 60, AddressBurst: 30, HandleRate: 5, HandleBurst: 10, Tracked: 20_000}
}

// hashPool bounds concurrent argon2id work. It never queues: a queue would
// hold each waiter's request (and the client's retry) while memory is the
// thing being protected.
type hashPool chan struct{}

func newHashPool(n int) hashPool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return make(hashPool, n)
}

// errHashBusy is what a request past the hashing bound gets (503, Retry-After).
var errHashBusy = repo.Errorf(repo.CodeUnavailable, "too many password checks at once: retry shortly")

// do runs fn holding one slot, or returns errHashBusy at once.
func (p hashPool) do(fn func()) error {
	select {
	case p <- struct{}{}:
	default:
		return errHashBusy
	}
	defer func() { <-p }()
	fn()
	return nil
}

// keyedLimiter is a token bucket per key, for at most capacity keys, so a
// flood of distinct keys costs bounded memory. Past capacity the bucket
// that is (or will soonest be) full again is forgotten: a full bucket is
// the same as none, so new keys never flush one that still holds failures
// while a refilled one is there, and they flush the longest-held last.
type keyedLimiter struct {
	mu       sync.Mutex
	perSec   float64
	burst    float64
	capacity int
	byFull   bucketHeap // soonest full first
	byKey    map[string]*keyedBucket
}

type keyedBucket struct {
	key    string
	tokens float64
	last   time.Time // tokens were counted up to here
	fullAt time.Time // when tokens reach burst again
	index  int       // in byFull
}

func newKeyedLimiter(perMinute float64, burst, capacity int) *keyedLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &keyedLimiter{perSec: perMinute / 60, burst: float64(max(burst, 1)), capacity: max(capacity, 1),
		byKey: map[string]*keyedBucket{}}
}

// refill counts the tokens earned since b.last; a clock that went back
// earns none (and never takes any away).
func (l *keyedLimiter) refill(b *keyedBucket, now time.Time) {
	if now.After(b.last) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.perSec)
		b.last = now
	}
}

// spent re-files b after its tokens changed.
func (l *keyedLimiter) spent(b *keyedBucket) {
	b.fullAt = b.last.Add(time.Duration((l.burst - b.tokens) / l.perSec * float64(time.Second)))
	heap.Fix(&l.byFull, b.index)
}

// take spends one token for key, or reports false.
func (l *keyedLimiter) take(key string, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.byKey[key]
	if !ok {
		if len(l.byKey) >= l.capacity {
			delete(l.byKey, heap.Pop(&l.byFull).(*keyedBucket).key)
		}
		b = &keyedBucket{key: key, tokens: l.burst, last: now, fullAt: now}
		l.byKey[key] = b
		heap.Push(&l.byFull, b)
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	l.spent(b)
	return true
}

// refund gives back a token take spent, for an attempt that turned out not
// to count (a login that succeeded).
func (l *keyedLimiter) refund(key string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.byKey[key]; ok {
		l.refill(b, now)
		b.tokens = min(l.burst, b.tokens+1)
		l.spent(b)
	}
}

// bucketHeap orders buckets by fullAt (container/heap).
type bucketHeap []*keyedBucket

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, j int) bool { return h[i].fullAt.Before(h[j].fullAt) }
func (h bucketHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *bucketHeap) Push(x any) {
	b := x.(*keyedBucket)
	b.index = len(*h)
	*h = append(*h, b)
}
func (h *bucketHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return b
}

// handleAnyFactor is how much more a handle's failed logins from all
// addresses together may be than from one address: an attacker's address
// runs out long before it could lock the owner out at the owner's address.
const handleAnyFactor = 10

// authLimits are the per-address and per-handle limiters of the password
// endpoints; keys are prefixed by the endpoint, so each has its own budget.
type authLimits struct {
	byAddress *keyedLimiter
	// byHandle counts registrations per handle, look-ups per caller, failed
	// password changes per user, and failed logins per (handle, address).
	byHandle *keyedLimiter
	// byHandleAny counts a handle's failed logins from every address.
	byHandleAny *keyedLimiter
}

func newAuthLimits(c AuthConfig) *authLimits {
	return &authLimits{byAddress: newKeyedLimiter(c.AddressRate, c.AddressBurst, c.Tracked),
		byHandle:    newKeyedLimiter(c.HandleRate, c.HandleBurst, c.Tracked),
		byHandleAny: newKeyedLimiter(handleAnyFactor*c.HandleRate, handleAnyFactor*c.HandleBurst, c.Tracked)}
}

// loginFailure reserves one failed login of handle from the client address
// addr, before the password is checked, so concurrent guesses cannot spend
// more than the budget; refund it when the login succeeds.
func (a *authLimits) loginFailure(addr, handle string, now time.Time) (refund func(), err error) {
	anyKey := "login|" + strings.ToLower(handle)
	pairKey := anyKey + "|" + addr
	if !a.byHandle.take(pairKey, now) {
		return nil, rateLimited("login")
	}
	if !a.byHandleAny.take(anyKey, now) {
		a.byHandle.refund(pairKey, now)
		return nil, rateLimited("login")
	}
	return func() { a.byHandle.refund(pairKey, now); a.byHandleAny.refund(anyKey, now) }, nil
}

func rateLimited(what string) error {
	return repo.Errorf(repo.CodeRateLimited, "too many %s attempts: slow down", what)
}

// address spends one of the client address addr's attempts at what.
func (a *authLimits) address(addr, what string, now time.Time) error {
	if !a.byAddress.take(what+"|"+addr, now) {
		return rateLimited(what)
	}
	return nil
}
