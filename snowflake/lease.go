package snowflake

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
)

// The lease statements. Two details matter:
//
//   - Renewal sets owner to the value it already has. In Cassandra a TTL belongs
//     to each cell, and an UPDATE re-times only the cells it writes: renewing
//     leased_at alone lets the owner cell (and the INSERT's row marker) expire
//     one TTL after the claim, after which "IF owner = ?" fails and the holder
//     wrongly believes it lost its id. Writing owner again re-times it too.
//   - The row outlives the INSERT's row marker through its live cells, so
//     IF NOT EXISTS still sees a renewed lease as taken.
//
// All three run at SERIAL, whatever --serial-consistency says: at LOCAL_SERIAL a
// node in each data centre could hold the same id and mint the same message ids.
const (
	cqlClaimLease   = `INSERT INTO snowflake_leases (node_id, owner, leased_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?`
	cqlRenewLease   = `UPDATE snowflake_leases USING TTL ? SET owner = ?, leased_at = ? WHERE node_id = ? IF owner = ?`
	cqlReleaseLease = `DELETE FROM snowflake_leases WHERE node_id = ? IF owner = ?`
)

// ErrUnavailable is in the chain of every error that means "Cassandra did not
// answer in time, or no node id is free: retry later". (This package cannot
// return a *repo.Error: repo imports snowflake.)
var ErrUnavailable = errors.New("snowflake lease unavailable")

// ErrAllLeased is returned, wrapped, when every node id 0..MaxNodeID is held
// by a live process. It wraps ErrUnavailable.
var ErrAllLeased = fmt.Errorf("%w: all %d node ids are leased", ErrUnavailable, MaxNodeID+1)

// ErrLeaseLost is returned, wrapped, by a leased Generator once its lease
// cannot be trusted (lost, expiring unrenewed, or released): any id it made
// could be made by the next holder too. It wraps ErrUnavailable.
var ErrLeaseLost = fmt.Errorf("%w: node-id lease lost", ErrUnavailable)

// ErrClockBeforeEpoch is returned, wrapped, by TryNext while the wall clock
// reads earlier than Epoch (not synced yet). It wraps ErrUnavailable.
var ErrClockBeforeEpoch = fmt.Errorf("%w: wall clock before the id epoch", ErrUnavailable)

// LeaseConfig tunes a node-id lease; zero values take the defaults.
type LeaseConfig struct {
	// TTL is how long a holder that stopped renewing (a dead process) keeps its
	// id. Default 30s. The row is written with a TTL of ceil(TTL)+1 seconds,
	// because Cassandra counts expiry in whole seconds from the coordinator's
	// clock; the holder itself trusts its lease for TTL after each renewal
	// was sent, minus a margin (see Lost).
	TTL time.Duration
	// RenewEvery is the renewal period. Default TTL/3; must be below TTL.
	RenewEvery time.Duration
	// Owner identifies the holder in snowflake_leases. It must be unique per
	// process (two processes with one Owner could renew each other's lease):
	// leave it empty unless you add something unique. Default: 16 random hex
	// digits, then @host:pid for operators.
	Owner string
	// Logger gets acquire, renewal trouble, loss and release. Default slog.Default().
	Logger *slog.Logger

	firstTry int64 // tests only: 1 + the first id to try; 0 means a random id
}

// Lease is a node id held in snowflake_leases with a lightweight transaction
// and a TTL. While it is renewed no other process can claim the id.
type Lease struct {
	session    *gocql.Session
	cfg        LeaseConfig
	ttlSeconds int
	nodeID     int64

	lost     chan struct{}
	lostOnce sync.Once
	// trustedUntil is when the lease stops being ours unless a renewal lands
	// first: the last successful renewal's send time plus TTL, minus
	// RenewEvery/2 (time.Time with its monotonic reading: wall-clock steps
	// do not move it).
	trustedUntil    atomic.Pointer[time.Time]
	released        atomic.Bool
	renewalFailures atomic.Int64
	ctx             context.Context // cancelled by Release; renewal queries run under it
	stop            context.CancelFunc
	done            chan struct{} // closed when the renewal goroutine has returned
}

// AcquireLease claims a free node id. It tries ids one after another from a
// random start, each with INSERT ... IF NOT EXISTS USING TTL; the first that
// applies is ours, and a goroutine renews it until Release or loss.
//
// A transient failure (timeout, unreachable node, overload) retries the same
// id with a backoff, so the time AcquireLease may take is bounded by ctx
// alone: give it a deadline. When ctx ends the error wraps ErrUnavailable and
// ctx.Err(); when every id is held it wraps ErrAllLeased. A claim cut short
// by ctx may still have applied: that id then stays taken until its TTL ends.
func AcquireLease(ctx context.Context, s *gocql.Session, cfg LeaseConfig) (*Lease, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.RenewEvery <= 0 {
		cfg.RenewEvery = cfg.TTL / 3
	}
	if cfg.RenewEvery >= cfg.TTL {
		return nil, fmt.Errorf("snowflake lease: RenewEvery %s must be shorter than TTL %s", cfg.RenewEvery, cfg.TTL)
	}
	if s == nil {
		return nil, errors.New("snowflake lease: nil session")
	}
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Lease{session: s, cfg: cfg, ttlSeconds: ttlSeconds(cfg.TTL), lost: make(chan struct{}), done: make(chan struct{})}

	first := rand.Int64N(MaxNodeID + 1)
	if cfg.firstTry > 0 {
		first = (cfg.firstTry - 1) % (MaxNodeID + 1)
	}
	for i := int64(0); i <= MaxNodeID; i++ {
		id := (first + i) % (MaxNodeID + 1)
		won, sent, err := l.claim(ctx, id)
		if err != nil {
			return nil, err
		}
		if won {
			l.nodeID = id
			l.ctx, l.stop = context.WithCancel(context.Background())
			validUntil := sent.Add(cfg.TTL)
			l.trust(validUntil)
			go l.renew(validUntil, max(0, time.Until(sent.Add(cfg.RenewEvery))))
			cfg.Logger.Info("leased snowflake node id", "node_id", id, "owner", cfg.Owner,
				"ttl", cfg.TTL, "renew_every", cfg.RenewEvery, "tried", i+1)
			return l, nil
		}
	}
	return nil, fmt.Errorf("lease snowflake node id: %w", ErrAllLeased)
}

// claim tries to take id. It returns whether id is now ours and the time the
// first attempt on it was sent (the row's TTL runs from no earlier than that).
// A claim whose result was lost to a timeout may have applied: the retry then
// finds our own owner in the row and takes it as won.
func (l *Lease) claim(ctx context.Context, id int64) (bool, time.Time, error) {
	var firstSent time.Time
	backoff := 50 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return false, firstSent, fmt.Errorf("lease snowflake node id: %w: %w", ErrUnavailable, err)
		}
		sent := time.Now()
		retried := !firstSent.IsZero()
		if !retried {
			firstSent = sent
		}
		row := map[string]any{}
		applied, err := l.session.Query(cqlClaimLease, id, l.cfg.Owner, sent.UTC(), l.ttlSeconds).
			WithContext(ctx).SerialConsistency(gocql.Serial).MapScanCAS(row)
		if err == nil {
			if applied {
				return true, firstSent, nil
			}
			// Our own owner in the row means an earlier attempt that timed out
			// did apply. On a first attempt it would mean another process uses
			// the same Owner, which must never be taken as ours.
			owner, _ := row["owner"].(string)
			return retried && owner == l.cfg.Owner, firstSent, nil
		}
		if ctx.Err() != nil {
			return false, firstSent, fmt.Errorf("lease snowflake node id %d: %w: %w (%v)", id, ErrUnavailable, ctx.Err(), err)
		}
		if !unavailable(err) || errors.Is(err, gocql.ErrSessionClosed) {
			return false, firstSent, fmt.Errorf("lease snowflake node id %d: %w", id, err)
		}
		l.cfg.Logger.Warn("snowflake node-id claim failed; retrying", "node_id", id, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, firstSent, fmt.Errorf("lease snowflake node id %d: %w: %w (last error: %v)", id, ErrUnavailable, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// NodeID is the leased id, 0..MaxNodeID.
func (l *Lease) NodeID() int64 { return l.nodeID }

// Owner is the value this lease wrote in snowflake_leases.owner.
func (l *Lease) Owner() string { return l.cfg.Owner }

// Lost is closed when the lease can no longer be trusted: a renewal found the
// row gone or held by another owner, or renewals kept failing until less than
// RenewEvery/2 of the TTL was left since the last renewal that succeeded (so
// the holder hears of it before another process could claim the id). The
// holder must stop making ids with NodeID when Lost is closed. Release does
// not close it.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Valid reports, at the moment of asking, whether ids made with the node id
// are still safe: nil until the lease is Lost, released, or the last
// successful renewal is older than TTL minus RenewEvery/2. It does not wait
// for the renewal goroutine to notice: a renewal stalled past that point
// (Cassandra hanging, the process starved of CPU) makes it fail as well.
func (l *Lease) Valid() error {
	select {
	case <-l.lost:
		return fmt.Errorf("snowflake node id %d: %w", l.nodeID, ErrLeaseLost)
	default:
	}
	if l.released.Load() {
		return fmt.Errorf("snowflake node id %d released: %w", l.nodeID, ErrLeaseLost)
	}
	if !time.Now().Before(*l.trustedUntil.Load()) {
		return fmt.Errorf("snowflake node id %d not renewed in time: %w", l.nodeID, ErrLeaseLost)
	}
	return nil
}

// TrustedFor is how long ids stay safe to make unless a renewal lands first:
// 0 once Valid fails. Renewals every RenewEvery keep it near TTL minus
// RenewEvery/2; a falling one means they fail.
func (l *Lease) TrustedFor() time.Duration {
	if l.Valid() != nil {
		return 0
	}
	return max(time.Until(*l.trustedUntil.Load()), 0)
}

// RenewalFailures counts renewals that got no answer (each is retried).
func (l *Lease) RenewalFailures() int64 { return l.renewalFailures.Load() }

// trust records a renewal (or the claim) that holds the row until validUntil.
func (l *Lease) trust(validUntil time.Time) {
	t := validUntil.Add(-l.cfg.RenewEvery / 2)
	l.trustedUntil.Store(&t)
}

func (l *Lease) markLost(msg string, args ...any) {
	l.lostOnce.Do(func() {
		l.cfg.Logger.Error("snowflake node-id lease lost: stop making ids with it",
			append([]any{"node_id", l.nodeID, "owner", l.cfg.Owner, "reason", msg}, args...)...)
		close(l.lost)
	})
}

// renew keeps the row alive until Release or loss. validUntil is when our
// own view of the lease runs out (the last successful renewal's send time
// plus TTL); the server's expiry is at least that late.
func (l *Lease) renew(validUntil time.Time, wait time.Duration) {
	defer close(l.done)
	margin := l.cfg.RenewEvery / 2
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var lastErr error
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-timer.C:
		}
		giveUp := validUntil.Add(-margin)
		if !time.Now().Before(giveUp) {
			l.markLost("renewals failed until the TTL nearly ran out", "valid_until", validUntil, "err", lastErr)
			return
		}
		deadline := time.Now().Add(l.cfg.RenewEvery)
		if giveUp.Before(deadline) {
			deadline = giveUp
		}
		qctx, cancel := context.WithDeadline(l.ctx, deadline)
		sent := time.Now()
		row := map[string]any{}
		applied, err := l.session.Query(cqlRenewLease, l.ttlSeconds, l.cfg.Owner, sent.UTC(), l.nodeID, l.cfg.Owner).
			WithContext(qctx).SerialConsistency(gocql.Serial).MapScanCAS(row)
		cancel()
		switch {
		case l.ctx.Err() != nil:
			return // Release is under way
		case err == nil && applied:
			validUntil, lastErr = sent.Add(l.cfg.TTL), nil
			l.trust(validUntil)
			timer.Reset(l.cfg.RenewEvery)
		case err == nil:
			if holder, _ := row["owner"].(string); holder != "" {
				l.markLost("the id is held by another owner", "holder", holder)
			} else {
				l.markLost("the lease row expired or was deleted")
			}
			return
		default:
			// Retry sooner, never later than the moment we would give up.
			lastErr = err
			l.renewalFailures.Add(1)
			retry := max(min(l.cfg.RenewEvery/4, time.Until(giveUp)), 0)
			l.cfg.Logger.Warn("snowflake node-id lease renewal failed; retrying", "node_id", l.nodeID,
				"err", err, "retry_in", retry, "valid_until", validUntil)
			timer.Reset(retry)
		}
	}
}

// Release stops the renewals and deletes the row (if it is still ours), so the
// id is free at once. Safe to call more than once and after Lost. An error
// (which wraps ErrUnavailable when Cassandra did not answer) leaves the row to
// expire by its TTL.
func (l *Lease) Release(ctx context.Context) error {
	l.released.Store(true) // before the row goes: another process may claim it at once
	l.stop()
	<-l.done
	row := map[string]any{}
	applied, err := l.session.Query(cqlReleaseLease, l.nodeID, l.cfg.Owner).WithContext(ctx).SerialConsistency(gocql.Serial).MapScanCAS(row)
	if err != nil {
		if unavailable(err) || ctx.Err() != nil {
			return fmt.Errorf("release snowflake node id %d: %w: %w", l.nodeID, ErrUnavailable, err)
		}
		return fmt.Errorf("release snowflake node id %d: %w", l.nodeID, err)
	}
	if applied {
		l.cfg.Logger.Info("released snowflake node id", "node_id", l.nodeID, "owner", l.cfg.Owner)
	} else {
		holder, _ := row["owner"].(string)
		l.cfg.Logger.Info("snowflake node id was no longer ours to release", "node_id", l.nodeID, "holder", holder)
	}
	return nil
}

// ttlSeconds is the CQL TTL for a lease of d: whole seconds rounded up, plus
// one, so that a row written at any fraction of the coordinator's second
// lives at least d.
func ttlSeconds(d time.Duration) int {
	return int((d+time.Second-1)/time.Second) + 1
}

func defaultOwner() string {
	b := make([]byte, 8)
	_, _ = crand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return hex.EncodeToString(b) + "@" + host + ":" + strconv.Itoa(os.Getpid())
}
