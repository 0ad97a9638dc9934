package api

import (
	"container/list"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

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
	// HandleRate is failed logins a minute per handle, registrations a
	// minute per handle, and handle look-ups a minute per caller
	// (0: unlimited); HandleBurst is its burst.
	HandleRate  float64
	HandleBurst int
	// Tracked is how many addresses (and, apart, handles) a node keeps
	// limiters for; the least recently seen are forgotten past it.
	Tracked int
	// ClientIPHeader names a header a trusted proxy sets to the client's
	// address (its last comma-separated entry is used); "" uses the TCP
	// peer, which is right unless chatd sits behind a proxy.
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

// keyedLimiter is a token bucket per key, for at most capacity keys (least
// recently used forgotten first), so a flood of distinct keys costs bounded
// memory. A forgotten key starts again with a full bucket.
type keyedLimiter struct {
	mu       sync.Mutex
	perSec   rate.Limit
	burst    int
	capacity int
	order    *list.List // front: most recently used; values are *keyedBucket
	byKey    map[string]*list.Element
}

type keyedBucket struct {
	key string
	lim *rate.Limiter
}

func newKeyedLimiter(perMinute float64, burst, capacity int) *keyedLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &keyedLimiter{perSec: rate.Limit(perMinute / 60), burst: max(burst, 1), capacity: max(capacity, 1),
		order: list.New(), byKey: map[string]*list.Element{}}
}

func (l *keyedLimiter) bucket(key string) *rate.Limiter {
	if e, ok := l.byKey[key]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*keyedBucket).lim
	}
	if l.order.Len() >= l.capacity {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.byKey, oldest.Value.(*keyedBucket).key)
	}
	b := &keyedBucket{key: key, lim: rate.NewLimiter(l.perSec, l.burst)}
	l.byKey[key] = l.order.PushFront(b)
	return b.lim
}

// take spends one token for key, or reports false.
func (l *keyedLimiter) take(key string, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(key).AllowN(now, 1)
}

// has reports whether key has a token left, without spending it.
func (l *keyedLimiter) has(key string, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(key).TokensAt(now) >= 1
}

// authLimits are the per-address and per-handle limiters of the password
// endpoints; keys are prefixed by the endpoint, so each has its own budget.
type authLimits struct {
	byAddress *keyedLimiter
	byHandle  *keyedLimiter
	ipHeader  string
}

func newAuthLimits(c AuthConfig) *authLimits {
	return &authLimits{byAddress: newKeyedLimiter(c.AddressRate, c.AddressBurst, c.Tracked),
		byHandle: newKeyedLimiter(c.HandleRate, c.HandleBurst, c.Tracked), ipHeader: c.ClientIPHeader}
}

func rateLimited(what string) error {
	return repo.Errorf(repo.CodeRateLimited, "too many %s attempts: slow down", what)
}

// address spends one of the client address's attempts at what.
func (a *authLimits) address(r *http.Request, what string, now time.Time) error {
	if !a.byAddress.take(what+"|"+a.clientAddr(r), now) {
		return rateLimited(what)
	}
	return nil
}

// clientAddr is the limiter's key for the request's client: its IPv4
// address, or its IPv6 /64 (one subscriber usually holds a whole /64).
func (a *authLimits) clientAddr(r *http.Request) string {
	raw := r.RemoteAddr
	if a.ipHeader != "" {
		if h := r.Header.Get(a.ipHeader); h != "" {
			raw = strings.TrimSpace(h[strings.LastIndexByte(h, ',')+1:])
		}
	}
	host := raw
	if h, _, err := net.SplitHostPort(raw); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String()
}
