package chat

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// shardWork is one held shard: a lease renewed every third of its TTL, and
// the settled buckets worked in order from the shard's cursor.
//
// Its life: quit asks it to stop after the bucket under way (a release,
// which hands the shard over once that bucket's cursor is written); gone
// says the lease can no longer be trusted and cancels the work at once.
// done is closed when the worker has returned, and only then may the shard
// be claimed again by this node.
type shardWork struct {
	n      *Notifier
	shard  int
	holder string // this claim's name in notify_shards

	quit, gone, done   chan struct{}
	quitOnce, goneOnce sync.Once
	lost               atomic.Bool
	trustMu            sync.Mutex
	trusted            time.Time // when the last renewal that succeeded was sent (monotonic)
	cursor             int64     // first bucket not finished; 0 until read
	failures           int       // consecutive failed attempts at the cursor's bucket
	delivered          map[string]bool
	deliveredAt        int64 // the bucket delivered belongs to
	deliveredMu        sync.Mutex
}

// startBacklog is how far back a shard that was never worked starts.
const startBacklog = 10 * time.Minute

func newShardWork(n *Notifier, shard int, holder string, claimedAt time.Time) *shardWork {
	return &shardWork{n: n, shard: shard, holder: holder, quit: make(chan struct{}), gone: make(chan struct{}), done: make(chan struct{}),
		trusted: claimedAt}
}

func (w *shardWork) stop() { w.quitOnce.Do(func() { close(w.quit) }) }

func (w *shardWork) markLost() {
	w.lost.Store(true)
	w.goneOnce.Do(func() { close(w.gone) })
	w.stop()
}

// valid reports whether the lease is still trusted: renewed within two
// thirds of its TTL, counted on the monotonic clock from when the renewal
// was sent, so a wall-clock step neither extends nor ends it (keep ends the
// work when it runs out; this is the check before a write).
func (w *shardWork) valid() bool {
	if w.lost.Load() {
		return false
	}
	w.trustMu.Lock()
	age := time.Since(w.trusted)
	w.trustMu.Unlock()
	return age <= w.n.cfg.Lease*2/3
}

func (w *shardWork) run() {
	defer close(w.done)
	defer w.n.setLag(w.shard, 0)
	go w.keep()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.gone:
			cancel()
		case <-w.done:
		}
	}()
	pause := 250 * time.Millisecond
	for {
		select {
		case <-w.quit:
			return
		default:
		}
		if !w.valid() {
			return
		}
		worked, failed := w.workSettled(ctx)
		switch {
		case worked:
			pause = 250 * time.Millisecond
			continue
		case failed:
			pause = min(2*pause, 30*time.Second)
		}
		t := time.NewTimer(pause)
		select {
		case <-w.quit:
			t.Stop()
			return
		case <-t.C:
		}
		if !failed {
			pause = 250 * time.Millisecond
		}
	}
}

// keep renews the lease every sixth of its TTL until the worker returns or
// the lease is lost, and ends the work the moment trust runs out (two
// thirds of the TTL after the last renewal that succeeded was sent), not
// when some check next looks. A worker whose trust ran out deletes its
// lease if it still holds it, so the shard is free at once.
func (w *shardWork) keep() {
	every, trustFor := w.n.cfg.Lease/6, w.n.cfg.Lease*2/3
	t := time.NewTicker(every)
	defer t.Stop()
	w.trustMu.Lock()
	expiry := time.NewTimer(trustFor - time.Since(w.trusted))
	w.trustMu.Unlock()
	defer expiry.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-w.gone:
			return
		case <-expiry.C:
			w.n.log.Warn("notify shard lease not renewed in time; giving it up", "shard", w.shard)
			w.markLost()
			<-w.done
			w.deleteLease()
			return
		case <-t.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		ok, err := w.n.app.store.RenewShard(ctx, w.n.cfg.Cluster, w.shard, w.holder, w.n.cfg.Lease)
		cancel()
		switch {
		case err != nil:
			w.n.log.Warn("renew notify shard", "shard", w.shard, "err", err)
		case !ok:
			w.n.log.Warn("notify shard taken by another node", "shard", w.shard)
			w.markLost()
			return
		default:
			w.trustMu.Lock()
			w.trusted = sent
			w.trustMu.Unlock()
			expiry.Reset(trustFor - time.Since(sent))
		}
	}
}

func (w *shardWork) deleteLease() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := w.n.app.store.ReleaseShard(ctx, w.n.cfg.Cluster, w.shard, w.holder); err != nil {
		w.n.log.Warn("release notify shard", "shard", w.shard, "err", err)
	}
}

// release hands the shard over: the bucket under way is finished (for at
// most a third of the lease), its cursor written, then the lease deleted,
// so the next holder starts where this one stopped instead of working the
// bucket again. A worker that does not finish in time is cut off first.
func (w *shardWork) release() {
	w.stop()
	select {
	case <-w.done:
	case <-time.After(w.n.cfg.Lease / 3):
		w.markLost()
		<-w.done
	}
	w.deleteLease()
}

// workSettled works the next settled bucket. worked: the cursor moved;
// failed: the store or the bucket failed (back off).
func (w *shardWork) workSettled(ctx context.Context) (worked, failed bool) {
	store, cfg := w.n.app.store, w.n.cfg
	width := repo.NotifyBucket.Milliseconds()
	now := time.Now()
	settled := repo.OutboxBucket(now.Add(-cfg.Settle)) - width // the newest bucket whose end is Settle ago
	if w.cursor == 0 {
		// Read once per claim: while the lease holds, only this worker moves it.
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		cursor, err := store.ShardCursor(rctx, cfg.Cluster, w.shard)
		cancel()
		if err != nil {
			w.n.log.Warn("read notify cursor", "shard", w.shard, "err", err)
			return false, true
		}
		// A shard never worked starts a little back; one left longer than
		// the rows live resumes where rows still are.
		if cursor == 0 {
			cursor = repo.OutboxBucket(now.Add(-cfg.Settle - startBacklog))
		}
		w.cursor = max(cursor, repo.OutboxBucket(now.Add(-maxBacklog)))
	}
	if w.cursor > settled {
		w.n.setLag(w.shard, 0)
		return false, false
	}
	w.n.setLag(w.shard, now.UnixMilli()-(w.cursor+width))
	if !w.workBucket(ctx, w.cursor) {
		return false, true // the store failed: the same bucket again, after a pause
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if !w.valid() {
		return false, true
	}
	if err := store.SetShardCursor(wctx, cfg.Cluster, w.shard, w.cursor+width); err != nil {
		w.n.log.Warn("write notify cursor", "shard", w.shard, "err", err)
		return false, true
	}
	w.cursor += width
	return true, false
}

// maxBacklog is how far back a shard resumes: outbox rows live a day.
const maxBacklog = 23 * time.Hour

// deliveredOnce records that a notice of bucket was resolved, so working
// the same bucket again (after a failure part-way) sends it no second time.
func (w *shardWork) deliveredOnce(bucket int64, id string) bool {
	w.deliveredMu.Lock()
	defer w.deliveredMu.Unlock()
	if w.deliveredAt != bucket {
		w.delivered, w.deliveredAt = map[string]bool{}, bucket
	}
	if w.delivered[id] {
		return false
	}
	w.delivered[id] = true
	return true
}

// undeliver forgets id: its delivery could not be resolved and is tried again.
func (w *shardWork) undeliver(bucket int64, id string) {
	w.deliveredMu.Lock()
	defer w.deliveredMu.Unlock()
	if w.deliveredAt == bucket {
		delete(w.delivered, id)
	}
}
