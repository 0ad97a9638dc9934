package chat

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

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
	// Parallel bounds the notices in flight per shard (default 32).
	Parallel int
	// Nodes says how many chatd nodes share the shards (the registry); nil: 1.
	Nodes func() int
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

	mu   sync.Mutex
	held map[int]*shardWork

	stop chan struct{}
	done chan struct{}
	n    notifyCounts
}

type notifyCounts struct {
	queued, sent, retried, gone, dead, skipped atomic.Int64
	failed                                     sync.Map // reason -> *atomic.Int64
	lagMillis                                  atomic.Int64
}

// NewNotifier makes the node's workers; Run starts them.
func (a *App) NewNotifier(cfg NotifierConfig, senders []notify.Sender, conns Connections) *Notifier {
	cfg.defaults()
	n := &Notifier{app: a, cfg: cfg, senders: map[notify.Kind]notify.Sender{}, conns: conns, log: a.log,
		held: map[int]*shardWork{}, stop: make(chan struct{}), done: make(chan struct{})}
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

// Stop ends the workers and gives their shards up, so another node takes
// them at once instead of after the lease.
func (n *Notifier) Stop() {
	close(n.stop)
	<-n.done
}

// balance claims free shards up to this node's share and gives up those over it.
func (n *Notifier) balance() {
	nodes := max(n.cfg.Nodes(), 1)
	share := (repo.NotifyShards + nodes - 1) / nodes
	n.mu.Lock()
	defer n.mu.Unlock()
	for s, w := range n.held {
		if w.lost.Load() {
			delete(n.held, s)
		}
	}
	for _, s := range rand.Perm(repo.NotifyShards) {
		if len(n.held) >= share {
			break
		}
		if _, ok := n.held[s]; ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		won, err := n.app.store.ClaimShard(ctx, n.cfg.Cluster, s, n.cfg.Holder, n.cfg.Lease)
		cancel()
		if err != nil {
			n.log.Warn("claim notify shard", "shard", s, "err", err)
			return
		}
		if won {
			w := &shardWork{n: n, shard: s, quit: make(chan struct{})}
			n.held[s] = w
			go w.run()
		}
	}
	for s, w := range n.held {
		if len(n.held) <= share {
			break
		}
		w.release()
		delete(n.held, s)
	}
}

func (n *Notifier) releaseAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s, w := range n.held {
		w.release()
		delete(n.held, s)
	}
}

// Held lists the shards this node works (tests, metrics).
func (n *Notifier) Held() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []int
	for s, w := range n.held {
		if !w.lost.Load() {
			out = append(out, s)
		}
	}
	return out
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
	m.Gauge("ringchat_notify_outbox_lag_seconds", "how far behind now the oldest bucket this node is working ends",
		func() float64 { return float64(n.n.lagMillis.Load()) / 1000 })
}

// failReasons label failed deliveries: a provider's refusal, a wait it
// asked for, anything else.
var failReasons = []string{"permanent", "retry_after", "transient"}

func (n *Notifier) failCounter(reason string) *atomic.Int64 {
	v, _ := n.n.failed.LoadOrStore(reason, new(atomic.Int64))
	return v.(*atomic.Int64)
}
