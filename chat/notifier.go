package chat

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
)

// The notification workers (docs/notifications.md): every chatd node runs a
// Notifier; they share the outbox's shards through leases in notify_shards,
// so each settled bucket of each shard is worked by one node in the normal
// case, and by the next holder again if its node dies before the cursor
// passes it (at least once).

// Connections says which of users' devices hold a live socket on any node
// (delivery.Node, from the routes).
type Connections interface {
	OnlineDevices(ctx context.Context, userIDs []int64) (map[int64]notify.OnlineSet, error)
}

// NotifierConfig tunes the workers; zero values take the defaults.
type NotifierConfig struct {
	Cluster string        // lease namespace: the chatd cluster name
	Holder  string        // unique per process (default: random)
	Lease   time.Duration // a dead holder's shards are free after this (default 15 s)
	// Settle is how long after a bucket's end it is worked: every send that
	// can still be acknowledged into it has written its row (the sync lag).
	Settle time.Duration
	// Attempts bounds deliveries of one notice (default 6); RetryBase and
	// RetryMax shape the backoff between them (1 s, 1 min), and a provider's
	// Retry-After longer than RetryMax dead-letters the notice.
	Attempts  int
	RetryBase time.Duration
	RetryMax  time.Duration
	// Parallel bounds the notices made and in flight per shard (default 32).
	Parallel int
	// AttemptTimeout bounds one delivery (default 5 s, at most a third of
	// the lease); a target that times out is paused for a minute, so it
	// holds a bucket this long once a minute; a failed delivery is retried
	// from a later bucket.
	AttemptTimeout time.Duration
	// Nodes says how many chatd nodes share the shards (the registry); nil: 1.
	Nodes func() int
	// Events posts the operator's events (docs/integrations.md); nil: none.
	Events EventHook
}

func (c *NotifierConfig) defaults() {
	if c.Holder == "" {
		b := make([]byte, 8)
		_, _ = crand.Read(b)
		c.Holder = hex.EncodeToString(b)
	}
	if c.Lease <= 0 {
		c.Lease = 15 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 5 * time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 6
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Minute
	}
	if c.Parallel <= 0 {
		c.Parallel = 32
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 5 * time.Second
	}
	c.AttemptTimeout = min(c.AttemptTimeout, c.Lease/3)
	if c.Nodes == nil {
		c.Nodes = func() int { return 1 }
	}
}

// Notifier works outbox shards on one node.
type Notifier struct {
	app     *App
	cfg     NotifierConfig
	senders map[notify.Kind]notify.Sender
	conns   Connections
	log     *slog.Logger

	mu          sync.Mutex
	held        map[int]*shardWork
	releasing   sync.WaitGroup // hand-overs under way, which Stop waits for
	freeSince   map[int]time.Time
	released    map[int]time.Time // shards this node gave up, and when
	claims      uint64            // claims made: each lease's holder is Holder/claims
	lastRelease time.Time
	// notified remembers messages whose notices this node made lately: a
	// send retried by its client writes a second outbox row, and its
	// devices must not be alerted twice.
	notified *lru.Cache[int64, time.Time]
	// paused holds targets (user, device) whose last delivery timed out, and until when.
	paused *lru.Cache[pauseKey, time.Time]
	// zones caches loaded time zones for quiet hours: LoadLocation reads the
	// zone database each time (bounded by the names it accepts, about 600).
	zones sync.Map // name -> *time.Location

	stop chan struct{}
	done chan struct{}
	n    notifyCounts
}

type notifyCounts struct {
	queued, sent, retried, gone, dead, skipped atomic.Int64
	failed                                     sync.Map // reason -> *atomic.Int64
	lags                                       [repo.NotifyShards]atomic.Int64
}

// NewNotifier makes the node's workers; Run starts them.
func (a *App) NewNotifier(cfg NotifierConfig, senders []notify.Sender, conns Connections) *Notifier {
	cfg.defaults()
	notified, _ := lru.New[int64, time.Time](100_000)
	paused, _ := lru.New[pauseKey, time.Time](100_000)
	n := &Notifier{app: a, cfg: cfg, senders: map[notify.Kind]notify.Sender{}, conns: conns, log: a.log,
		held: map[int]*shardWork{}, freeSince: map[int]time.Time{}, released: map[int]time.Time{}, notified: notified, paused: paused,
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, s := range senders {
		n.senders[s.Kind()] = s
	}
	n.register()
	return n
}

// Run claims and works shards until Stop.
func (n *Notifier) Run() {
	defer close(n.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		n.balance()
		select {
		case <-n.stop:
			n.releaseAll()
			return
		case <-tick.C:
		}
	}
}

// Stop ends the workers and hands their shards over (each finishes the
// bucket under way first), so another node takes them at once.
func (n *Notifier) Stop() {
	close(n.stop)
	<-n.done
}

// releaseEvery spaces the shards a node gives up: each hand-over costs the
// next holder a cursor read, and a node that gives up a shard nobody takes
// (the other nodes run no notifier) claims it back after a lease.
const releaseEvery = 30 * time.Second

// balance claims a free shard, at most one a tick, while this node holds
// less than its share of the nodes that work shards, or when the shard has
// been free for a lease (nobody else is taking it); it gives one up when it
// holds more than its share. Only shards the plain read shows free cost a
// lightweight transaction.
func (n *Notifier) balance() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	holders, err := n.app.store.ShardHolders(ctx, n.cfg.Cluster)
	if err != nil {
		n.log.Warn("read notify shard holders", "err", err)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for s, w := range n.held {
		select {
		case <-w.done: // lost, or released: claimable again
			delete(n.held, s)
		default:
		}
	}
	working := map[string]bool{n.cfg.Holder: true}
	for _, h := range holders {
		working[nodeOf(h)] = true
	}
	// A node working no shard yet is not among the holders: the registry's
	// count makes room for it, one release at a time.
	nodes := max(len(working), min(n.cfg.Nodes(), repo.NotifyShards))
	share := (repo.NotifyShards + len(working) - 1) / len(working)
	probe := (repo.NotifyShards + nodes - 1) / nodes
	now := time.Now()
	for s := range repo.NotifyShards {
		if _, ok := holders[s]; ok {
			delete(n.freeSince, s)
		} else if _, ok := n.freeSince[s]; !ok {
			n.freeSince[s] = now
		}
	}
	for _, s := range rand.Perm(repo.NotifyShards) {
		if _, held := n.held[s]; held || holders[s] != "" {
			continue
		}
		if len(n.held) >= share && now.Sub(n.freeSince[s]) < n.cfg.Lease {
			continue
		}
		if now.Sub(n.released[s]) < n.cfg.Lease {
			continue // given up for another node to take: not claimed back at once
		}
		// Each claim holds the lease under a name of its own: a worker
		// that is gone can never renew or delete a later claim's lease.
		n.claims++
		holder := n.cfg.Holder + "/" + strconv.FormatUint(n.claims, 10)
		won, err := n.app.store.ClaimShard(ctx, n.cfg.Cluster, s, holder, n.cfg.Lease)
		if err != nil {
			n.log.Warn("claim notify shard", "shard", s, "err", err)
			return
		}
		if won {
			// Trust starts with a renewal sent now: the row claimed may be an
			// older write of ours whose TTL is partly spent.
			sent := time.Now()
			if ok, err := n.app.store.RenewShard(ctx, n.cfg.Cluster, s, holder, n.cfg.Lease); err != nil || !ok {
				n.log.Warn("renew claimed notify shard", "shard", s, "ok", ok, "err", err)
				return
			}
			w := newShardWork(n, s, holder, sent)
			n.held[s] = w
			go w.run()
		}
		return // one claim a tick
	}
	if (len(n.held) > share || len(n.held) > probe) && now.Sub(n.lastRelease) >= releaseEvery {
		for s, w := range n.held {
			n.lastRelease, n.released[s] = now, now
			delete(n.held, s)
			n.releasing.Add(1)
			go func() { defer n.releasing.Done(); w.release() }()
			return
		}
	}
}

func (n *Notifier) releaseAll() {
	n.mu.Lock()
	ws := make([]*shardWork, 0, len(n.held))
	for s, w := range n.held {
		ws = append(ws, w)
		delete(n.held, s)
	}
	n.mu.Unlock()
	for _, w := range ws {
		n.releasing.Add(1)
		go func() { defer n.releasing.Done(); w.release() }()
	}
	n.releasing.Wait()
}

func (n *Notifier) setLag(shard int, ms int64) { n.n.lags[shard].Store(ms) }

// nodeOf is the node part of a lease's holder (Holder/claim).
func nodeOf(holder string) string {
	node, _, _ := strings.Cut(holder, "/")
	return node
}

func (n *Notifier) zone(name string) (*time.Location, error) {
	if l, ok := n.zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	n.zones.Store(name, l)
	return l, nil
}

func (n *Notifier) register() {
	m := n.app.metrics
	if m == nil {
		return
	}
	c := func(name, help string, v *atomic.Int64) {
		m.Counter(name, help, func() float64 { return float64(v.Load()) })
	}
	c("ringchat_notify_queued_total", "outbox rows read by this node's workers", &n.n.queued)
	c("ringchat_notify_sent_total", "notices a provider accepted", &n.n.sent)
	c("ringchat_notify_retried_total", "notice deliveries retried after a failure", &n.n.retried)
	c("ringchat_notify_gone_total", "push targets removed because their provider said they are gone", &n.n.gone)
	c("ringchat_notify_dead_lettered_total", "notices given up on after the retry bound", &n.n.dead)
	c("ringchat_notify_skipped_total", "notices not made: device online, muted, quiet hours, or ended", &n.n.skipped)
	for _, r := range failReasons {
		v := n.failCounter(r)
		c("ringchat_notify_failed_"+r+"_total", "failed notice deliveries: "+r, v)
	}
	m.Gauge("ringchat_notify_outbox_lag_seconds", "how far behind now ends the oldest bucket a shard of this node is working (the most over its shards)",
		func() float64 {
			var most int64
			for i := range n.n.lags {
				most = max(most, n.n.lags[i].Load())
			}
			return float64(most) / 1000
		})
}

// failReasons label failed deliveries: a provider's refusal, a wait it
// asked for, anything else.
var failReasons = []string{"permanent", "retry_after", "transient"}

func (n *Notifier) failCounter(reason string) *atomic.Int64 {
	v, _ := n.n.failed.LoadOrStore(reason, new(atomic.Int64))
	return v.(*atomic.Int64)
}
