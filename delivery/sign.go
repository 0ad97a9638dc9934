package delivery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Node-to-node calls carry no secret, only a signature: HMAC-SHA256, keyed
// by the cluster secret, over the method, the path, the target process's
// instance, a timestamp, a nonce and the body's SHA-256, which travels in a
// header (as AWS SigV4's x-amz-content-sha256 does) so the target checks the
// signature before it reads a byte of the body. The target refuses a call
// signed for another process, one whose timestamp is more than signWindow
// from its clock, and a nonce it already accepted within the window. A
// captured call is thus useless past the window, on any other node, and for
// a second delivery.
const (
	headerTimestamp = "X-Ringchat-Timestamp"      // Unix milliseconds
	headerNonce     = "X-Ringchat-Nonce"          // 32 hex digits, fresh per call
	headerBodyHash  = "X-Ringchat-Content-Sha256" // hex SHA-256 of the body
	headerSignature = "X-Ringchat-Signature"      // hex HMAC-SHA256
	signWindow      = 30 * time.Second
	// maxNoncesPerSecond bounds the replay cache: the calls accepted whose
	// timestamps fall in one second. Only correctly signed calls enter it, and
	// a forwarder makes at most one call per linger period (a few hundred a
	// second under load), so this is a ring of dozens of busy peers; past it
	// calls are refused with 503 and retried, never let through.
	maxNoncesPerSecond = 8192
)

var (
	errUnsigned  = errors.New("unsigned internal call")
	errStale     = errors.New("internal call outside the signing window")
	errBadSig    = errors.New("bad internal call signature")
	errReplayed  = errors.New("internal call replayed")
	errNonceFull = errors.New("too many internal calls in the signing window")
)

// signature is the hex HMAC of one call whose body has the hex SHA-256 bodyHash.
func signature(secret, method, path, target, ts, nonce, bodyHash string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	for _, part := range []string{"ringchat-internal-v2", method, path, target, ts, nonce, bodyHash} {
		mac.Write([]byte(part))
		mac.Write([]byte{'\n'})
	}
	return hex.EncodeToString(mac.Sum(nil))
}

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// SignRequest sets the signing headers of a call, whose body is body, to the
// process whose instance is target.
func SignRequest(req *http.Request, secret, target string, body []byte, now time.Time) {
	n := make([]byte, 16)
	_, _ = rand.Read(n) // crypto/rand.Read does not fail (Go 1.24+)
	ts, nonce, hash := strconv.FormatInt(now.UnixMilli(), 10), hex.EncodeToString(n), bodyHash(body)
	req.Header.Set(headerTimestamp, ts)
	req.Header.Set(headerNonce, nonce)
	req.Header.Set(headerBodyHash, hash)
	req.Header.Set(headerSignature, signature(secret, req.Method, req.URL.Path, target, ts, nonce, hash))
}

// verifyHeaders checks, before the body is read, that a call to this
// instance is signed, fresh and new, and records its nonce so the same call
// is refused if it comes again. The body must then match headerBodyHash.
func (c *Node) verifyHeaders(r *http.Request, now time.Time) error {
	ts, nonce, hash, sig := r.Header.Get(headerTimestamp), r.Header.Get(headerNonce), r.Header.Get(headerBodyHash), r.Header.Get(headerSignature)
	if len(nonce) != 32 || len(hash) != 2*sha256.Size || len(sig) != 2*sha256.Size {
		return errUnsigned
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errUnsigned
	}
	if d := now.Sub(time.UnixMilli(ms)); d > signWindow || d < -signWindow {
		return errStale
	}
	want := signature(c.cfg.Secret, r.Method, r.URL.Path, c.cfg.Instance, ts, nonce, hash)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return errBadSig
	}
	return c.nonces.add(nonce, ms)
}

// bodyMatches reports whether body is the one the verified headers signed.
func bodyMatches(r *http.Request, body []byte) bool {
	return hmac.Equal([]byte(bodyHash(body)), []byte(r.Header.Get(headerBodyHash)))
}

// nonceSlots is how many seconds of signed timestamps the cache tells apart:
// more than the 2*signWindow+1 seconds a timestamp can span while the window
// accepts it, so a slot is reused only for a second whose nonces can no
// longer pass the window check.
const nonceSlots = 64

// nonceCache remembers accepted nonces by the second of their signed
// timestamp. A nonce needs remembering only while that timestamp is inside
// the window (the signature binds the two), so a whole second's nonces are
// forgotten at once when its slot is reused: O(1) per call, no scan, and at
// most nonceSlots*maxNoncesPerSecond entries.
type nonceCache struct {
	mu    sync.Mutex
	slots [nonceSlots]nonceSlot
}

type nonceSlot struct {
	second int64 // Unix second of the timestamps held
	seen   map[[16]byte]struct{}
}

// add records nonce, signed at tsMs (Unix ms, already checked to be inside
// the window), or refuses it as a replay or for a full second.
func (nc *nonceCache) add(nonce string, tsMs int64) error {
	var key [16]byte
	if _, err := hex.Decode(key[:], []byte(nonce)); err != nil {
		return errUnsigned
	}
	sec := floorDiv(tsMs, 1000)
	nc.mu.Lock()
	defer nc.mu.Unlock()
	s := &nc.slots[floorMod(sec, nonceSlots)]
	if s.seen == nil || s.second != sec {
		// The slot held a second at least nonceSlots away from sec, which is
		// inside the window: its nonces can no longer be accepted anyway.
		*s = nonceSlot{second: sec, seen: map[[16]byte]struct{}{}}
	}
	if _, ok := s.seen[key]; ok {
		return errReplayed
	}
	if len(s.seen) >= maxNoncesPerSecond {
		return errNonceFull
	}
	s.seen[key] = struct{}{}
	return nil
}

// len is the number of nonces held (tests).
func (nc *nonceCache) len() int {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	n := 0
	for _, s := range nc.slots {
		n += len(s.seen)
	}
	return n
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
