package cluster

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
// instance, a timestamp, a nonce and the body's SHA-256. The target refuses
// a call signed for another process, one whose timestamp is more than
// signWindow from its clock, and a nonce it already accepted within the
// window. A captured call is thus useless past the window, on any other
// node, and for a second delivery.
const (
	headerTimestamp = "X-Ringchat-Timestamp" // Unix milliseconds
	headerNonce     = "X-Ringchat-Nonce"     // 32 hex digits, fresh per call
	headerSignature = "X-Ringchat-Signature" // hex HMAC-SHA256
	signWindow      = 30 * time.Second
	// maxNonces bounds the replay cache. Only correctly signed calls enter
	// it, and a node makes at most a few calls a second to each other node.
	maxNonces = 1 << 16
)

var (
	errUnsigned  = errors.New("unsigned internal call")
	errStale     = errors.New("internal call outside the signing window")
	errBadSig    = errors.New("bad internal call signature")
	errReplayed  = errors.New("internal call replayed")
	errNonceFull = errors.New("too many internal calls in the signing window")
)

// signature is the hex HMAC of one call.
func signature(secret, method, path, target, ts, nonce string, body []byte) string {
	bodySum := sha256.Sum256(body)
	mac := hmac.New(sha256.New, []byte(secret))
	for _, part := range []string{"ringchat-internal-v1", method, path, target, ts, nonce, hex.EncodeToString(bodySum[:])} {
		mac.Write([]byte(part))
		mac.Write([]byte{'\n'})
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// SignRequest sets the signing headers of a call, whose body is body, to the
// process whose instance is target.
func SignRequest(req *http.Request, secret, target string, body []byte, now time.Time) {
	n := make([]byte, 16)
	_, _ = rand.Read(n) // crypto/rand.Read does not fail (Go 1.24+)
	ts, nonce := strconv.FormatInt(now.UnixMilli(), 10), hex.EncodeToString(n)
	req.Header.Set(headerTimestamp, ts)
	req.Header.Set(headerNonce, nonce)
	req.Header.Set(headerSignature, signature(secret, req.Method, req.URL.Path, target, ts, nonce, body))
}

// checkFresh refuses, before the body is read, a call without signing
// headers or outside the window.
func checkFresh(r *http.Request, now time.Time) error {
	ts, nonce, sig := r.Header.Get(headerTimestamp), r.Header.Get(headerNonce), r.Header.Get(headerSignature)
	if len(nonce) != 32 || len(sig) != 2*sha256.Size {
		return errUnsigned
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errUnsigned
	}
	if d := now.Sub(time.UnixMilli(ms)); d > signWindow || d < -signWindow {
		return errStale
	}
	return nil
}

// verify checks the signature of a call to this instance, then records its
// nonce so the same call is refused if it comes again.
func (c *Cluster) verify(r *http.Request, body []byte, now time.Time) error {
	if err := checkFresh(r, now); err != nil {
		return err
	}
	ts, nonce := r.Header.Get(headerTimestamp), r.Header.Get(headerNonce)
	want := signature(c.cfg.Secret, r.Method, r.URL.Path, c.cfg.Instance, ts, nonce, body)
	if !hmac.Equal([]byte(want), []byte(r.Header.Get(headerSignature))) {
		return errBadSig
	}
	return c.nonces.add(nonce, now.Add(2*signWindow))
}

// nonceCache remembers accepted nonces until they could no longer pass the
// window check; it holds at most maxNonces.
type nonceCache struct {
	mu   sync.Mutex
	seen map[string]time.Time // nonce -> when it may be forgotten
}

func (nc *nonceCache) add(nonce string, forgetAt time.Time) error {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if nc.seen == nil {
		nc.seen = map[string]time.Time{}
	}
	if _, ok := nc.seen[nonce]; ok {
		return errReplayed
	}
	if len(nc.seen) >= maxNonces {
		now := time.Now()
		for n, t := range nc.seen {
			if now.After(t) {
				delete(nc.seen, n)
			}
		}
		if len(nc.seen) >= maxNonces {
			return errNonceFull
		}
	}
	nc.seen[nonce] = forgetAt
	return nil
}
