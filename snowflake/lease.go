package snowflake

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

const (
	cqlClaimLease   = `INSERT INTO snowflake_leases (node_id, owner, leased_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?`
	cqlRenewLease   = `UPDATE snowflake_leases USING TTL ? SET owner = ?, leased_at = ? WHERE node_id = ? IF owner = ?`
	cqlReleaseLease = `DELETE FROM snowflake_leases WHERE node_id = ? IF owner = ?`
)

// LeaseConfig tunes a node-id lease; zero values take the defaults.
type LeaseConfig struct {
	TTL        time.Duration // default 30s: how long a dead holder keeps its id
	RenewEvery time.Duration // default TTL/3
	Owner      string        // default: random, with host and pid for operators
	Logger     *slog.Logger
}

// Lease is a node id held in snowflake_leases with a lightweight transaction
// and a TTL. While it is renewed no other process can claim the id; if a
// renewal finds another owner, or renewals fail until the TTL could have run
// out, Lost is closed and the holder must stop making ids.
type Lease struct {
	session *gocql.Session
	cfg     LeaseConfig
	nodeID  int64
	lost    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// AcquireLease claims a free node id, trying ids from a random start.
func AcquireLease(ctx context.Context, s *gocql.Session, cfg LeaseConfig) (*Lease, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.RenewEvery <= 0 || cfg.RenewEvery >= cfg.TTL {
		cfg.RenewEvery = cfg.TTL / 3
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 8)
		_, _ = crand.Read(b)
		cfg.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	start := mrand()
	for i := int64(0); i <= MaxNodeID; i++ {
		id := (start + i) % (MaxNodeID + 1)
		var gotID int64
		var gotAt time.Time
		var gotOwner string
		applied, err := s.Query(cqlClaimLease, id, cfg.Owner, time.Now().UTC(), ttl(cfg.TTL)).
			WithContext(ctx).ScanCAS(&gotID, &gotAt, &gotOwner)
		if err != nil {
			return nil, fmt.Errorf("claim snowflake node id %d: %w", id, err)
		}
		if applied {
			l := &Lease{session: s, cfg: cfg, nodeID: id, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.renew()
			cfg.Logger.Info("leased snowflake node id", "node_id", id, "owner", cfg.Owner, "ttl", cfg.TTL)
			return l, nil
		}
	}
	return nil, fmt.Errorf("all %d snowflake node ids are leased", MaxNodeID+1)
}

func mrand() int64 { return rand.Int64N(MaxNodeID + 1) }

func ttl(d time.Duration) int { return max(1, int(d/time.Second)) }

// NodeID is the leased id.
func (l *Lease) NodeID() int64 { return l.nodeID }

// Lost is closed when the lease can no longer be trusted.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

func (l *Lease) markLost(reason string, err error) {
	l.once.Do(func() {
		l.cfg.Logger.Error("snowflake node-id lease lost", "node_id", l.nodeID, "reason", reason, "err", err)
		close(l.lost)
	})
}

func (l *Lease) renew() {
	defer close(l.done)
	lastOK := time.Now()
	wait := l.cfg.RenewEvery
	for {
		select {
		case <-l.stop:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.RenewEvery)
		var gotOwner string
		applied, err := l.session.Query(cqlRenewLease, ttl(l.cfg.TTL), l.cfg.Owner, time.Now().UTC(), l.nodeID, l.cfg.Owner).
			WithContext(ctx).ScanCAS(&gotOwner)
		cancel()
		switch {
		case err == nil && applied:
			lastOK, wait = time.Now(), l.cfg.RenewEvery
		case err == nil:
			// The row expired and someone else claimed the id, or it is gone.
			l.markLost("held by "+gotOwner, nil)
			return
		default:
			// A transient failure: retry sooner, but give up before the TTL could have run out.
			if time.Since(lastOK)+l.cfg.RenewEvery/2 >= l.cfg.TTL {
				l.markLost("renewals failed for the whole TTL", err)
				return
			}
			wait = l.cfg.RenewEvery / 4
		}
	}
}

// Release stops renewing and frees the id at once for the next process.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	if err := l.session.Query(cqlReleaseLease, l.nodeID, l.cfg.Owner).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("release node id %d: %w", l.nodeID, err)
	}
	return nil
}
