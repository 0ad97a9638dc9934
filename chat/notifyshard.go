package chat

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// shardWork is one held shard: a lease renewed every third of its TTL, and
// the settled buckets worked in order from the shard's cursor.
type shardWork struct {
	n     *Notifier
	shard int
	lost  atomic.Bool
	quit  chan struct{}
	// trusted is when the lease was last renewed; work stops once it is a
	// lease old (another node may hold the shard by then).
	trusted atomic.Int64
}

// maxBacklog is how far back a shard resumes: outbox rows live a day.
const maxBacklog = 23 * time.Hour

func (w *shardWork) run() {
	w.trusted.Store(time.Now().UnixNano())
	go w.keep()
	for {
		if !w.valid() {
			return
		}
		if !w.workSettled() {
			select {
			case <-w.quit:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
}

func (w *shardWork) valid() bool {
	select {
	case <-w.quit:
		return false
	default:
	}
	if time.Since(time.Unix(0, w.trusted.Load())) > w.n.cfg.Lease*2/3 {
		w.lost.Store(true)
	}
	return !w.lost.Load()
}

// keep renews the lease until released or lost.
func (w *shardWork) keep() {
	t := time.NewTicker(w.n.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.n.cfg.Lease/3)
		ok, err := w.n.app.store.RenewShard(ctx, w.n.cfg.Cluster, w.shard, w.n.cfg.Holder, w.n.cfg.Lease)
		cancel()
		switch {
		case err != nil:
			w.n.log.Warn("renew notify shard", "shard", w.shard, "err", err)
		case !ok:
			w.n.log.Warn("notify shard taken by another node", "shard", w.shard)
			w.lost.Store(true)
			return
		default:
			w.trusted.Store(time.Now().UnixNano())
		}
	}
}

func (w *shardWork) release() {
	select {
	case <-w.quit:
		return
	default:
	}
	close(w.quit)
	w.lost.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := w.n.app.store.ReleaseShard(ctx, w.n.cfg.Cluster, w.shard, w.n.cfg.Holder); err != nil {
		w.n.log.Warn("release notify shard", "shard", w.shard, "err", err)
	}
}

// workSettled works the next settled bucket; false: none is settled yet (or
// the store failed: try again shortly).
func (w *shardWork) workSettled() bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	store, cfg := w.n.app.store, w.n.cfg
	rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
	cursor, err := store.ShardCursor(rctx, cfg.Cluster, w.shard)
	rcancel()
	if err != nil {
		w.n.log.Warn("read notify cursor", "shard", w.shard, "err", err)
		return false
	}
	width := repo.NotifyBucket.Milliseconds()
	now := time.Now()
	settled := repo.OutboxBucket(now.Add(-cfg.Settle)) - width // the newest bucket whose end is Settle ago
	if floor := repo.OutboxBucket(now.Add(-maxBacklog)); cursor < floor {
		// A shard never worked starts at what is settling now; one left for
		// longer than the rows live resumes where rows still are.
		if cursor == 0 {
			cursor = settled
		} else {
			cursor = floor
		}
	}
	if cursor > settled {
		return false
	}
	w.n.n.lagMillis.Store(now.UnixMilli() - (cursor + width))
	if !w.workBucket(ctx, cursor) {
		return false
	}
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	defer wcancel()
	if !w.valid() {
		return false
	}
	if err := store.SetShardCursor(wctx, cfg.Cluster, w.shard, cursor+width); err != nil {
		w.n.log.Warn("write notify cursor", "shard", w.shard, "err", err)
		return false
	}
	return true
}
