// Package chat holds ringchat's use cases: who may send what to whom, and
// what a send, an edit or a membership change writes and pushes. It knows no
// transport: its inputs and outputs are plain Go values and *repo.Error codes,
// which the REST and WebSocket adapters map to statuses and frames, each in
// one place (docs/architecture.md).
package chat

import (
	"context"
	"log/slog"
	"time"

	"github.com/ringchat/ringchat/presence"
	"github.com/ringchat/ringchat/repo"
)

// Config holds the product's knobs; zero values take the defaults.
type Config struct {
	Limits         Limits
	Argon2         Argon2Params
	RequestTimeout time.Duration // bound on one request's storage work
	// SendDeadline bounds a send from id creation to the last inbox row; a send
	// that overruns is not acknowledged (the client retries).
	SendDeadline time.Duration
	// SyncLag is how far behind now the sync cursor stays: it must exceed
	// SendDeadline plus the clock skew between chatd nodes (docs/sync.md).
	SyncLag time.Duration
	// DebugSendDelay pauses every send between making its id and writing it.
	// Testing only: it simulates a slow writer to prove sync never skips.
	DebugSendDelay time.Duration
	// DebugAckDelay pauses every send between its writes and its answer.
	// Testing only: it lets a test kill a node that wrote but did not ack.
	DebugAckDelay time.Duration
	// DebugEditDelay pauses every edit between its write and its announce.
	// Testing only: it lets a recall land in between.
	DebugEditDelay time.Duration
	Media          MediaConfig
	Groups         GroupConfig
	EditWindow     time.Duration // the sender may edit this long after sending
	RecallWindow   time.Duration // the sender may recall this long after sending
	TypingEvery    time.Duration // at most one typing relay per user and conversation this often
	SendRate       float64       // messages per second per user on one node (0: unlimited)
	SendBurst      int
	// ReceiptEvery coalesces receipt events: at most one per member and
	// conversation this often (0: none). ReceiptRate bounds receipt frames
	// per user on one node (0: unlimited).
	ReceiptEvery time.Duration
	ReceiptRate  float64
	ReceiptBurst int
	// DirectCache is how many direct conversations' members a node keeps in
	// memory for sends (0: none); entries never go stale (directcache.go).
	DirectCache int
	// GroupCache is how many group member ids a node keeps for sends (0:
	// none); an entry serves only while the group's members version is the
	// one it was read under (groupcache.go).
	GroupCache int
	// SendConcurrency is the most sends one node keeps in flight; the bound
	// adapts below it to the ring's latency against SendLatencyTarget
	// (sendgate.go). 0: unbounded.
	SendConcurrency   int
	SendLatencyTarget time.Duration
	// SendQueue is how many sends over the bound may wait for a slot (at most
	// RequestTimeout - SendDeadline each); past it a send is refused at once.
	SendQueue int
	// InboxReferences: a direct message's inbox rows name the message instead
	// of copying it (docs/sync.md). Off while any node of a version before
	// references still serves sync: those cannot render such rows.
	InboxReferences bool
	// Auth bounds the password operations: hashing and attempt rates (authlimit.go).
	Auth AuthConfig
	// Notify says which push kinds are carried; off: no outbox rows (push.go).
	Notify NotifyConfig
	// BeforeSend tunes Deps.BeforeSend, the operator's check (beforesend.go).
	BeforeSend BeforeSendConfig
	// Deletion tunes account deletion (deletion.go).
	Deletion DeletionConfig
	// ExportConcurrency bounds exports running at once on a node (export.go;
	// default 4); ExportLines bounds one export response's lines (default
	// ExportLinesPerResponse).
	ExportConcurrency, ExportLines int
	// BotTokenLife is how long a bot's token lives unless revoked (bots.go).
	BotTokenLife time.Duration
}

// MediaConfig bounds uploads.
type MediaConfig struct {
	MaxBytes    int64         // default 16 MiB
	UploadTTL   time.Duration // presigned PUT lifetime, default 10 min
	DownloadTTL time.Duration // presigned GET lifetime, default 5 min
	MaxPerMsg   int           // media items on one message, default 10
}

// GroupConfig bounds groups and picks their fan-out mode.
type GroupConfig struct {
	MaxMembers     int // default 1,000; one more is a 400
	PushMaxMembers int // groups up to this size get inbox rows per member (push); larger ones pull
	MaxPullGroups  int // most pull-mode groups one user may be added to (0: no bound)
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Limits:            DefaultLimits(),
		Argon2:            DefaultArgon2(),
		RequestTimeout:    5 * time.Second,
		SendDeadline:      3 * time.Second,
		SyncLag:           5 * time.Second,
		EditWindow:        15 * time.Minute,
		RecallWindow:      24 * time.Hour,
		TypingEvery:       2 * time.Second,
		SendRate:          10,
		SendBurst:         30,
		ReceiptEvery:      time.Second,
		ReceiptRate:       50,
		ReceiptBurst:      200,
		DirectCache:       100_000,
		GroupCache:        1_000_000,
		SendConcurrency:   512,
		SendLatencyTarget: time.Second,
		SendQueue:         512,
		InboxReferences:   true,
		BotTokenLife:      DefaultBotTokenLife,
		Auth:              DefaultAuthConfig(),
		Groups:            GroupConfig{MaxMembers: 1000, PushMaxMembers: 100, MaxPullGroups: 500},
		Media:             MediaConfig{MaxBytes: 16 << 20, UploadTTL: 10 * time.Minute, DownloadTTL: 5 * time.Minute, MaxPerMsg: 10},
	}
}

// IDs makes Snowflake ids. TryNext fails once the node may no longer make
// them (its node-id lease is gone): the request is refused, never given an id
// another node may make too. *snowflake.Generator implements it.
type IDs interface{ TryNext() (int64, error) }

// Delivery pushes events to users' connected devices, on this node and on
// the others (delivery.Node). Live delivery is at most once per socket and
// best effort: a device not reached (offline, slow, its node unreachable, a
// queue full) gets the event from Sync, which every client calls on
// reconnect. Neither method waits for a socket or another node.
type Delivery interface {
	// Push assembles the event {"type": kind, "event_id": eventID, "data":
	// data} once around data (JSON the caller made; eventID 0 leaves the id
	// out) and queues it to every connected device of userIDs. sentAt, when
	// not zero, is when the message it carries was made (the delivery-age
	// metric). It returns how many sockets of this node took it.
	Push(userIDs []int64, kind string, eventID int64, data []byte, sentAt time.Time) int
	// EndDevice closes a device's sockets on every node (close 1008): a
	// revoke, a logout, a password change, the device logging in again.
	EndDevice(userID, deviceID int64, reason string)
}

// Objects is what media needs from the object store (repo/objstore.Store).
type Objects interface {
	PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (repo.Presigned, error)
	PresignGet(ctx context.Context, key string, ttl time.Duration) (repo.Presigned, error)
	Head(ctx context.Context, key string) (repo.Object, error)
	Delete(ctx context.Context, key string) error
}

// Presence answers presence queries (presence.Service).
type Presence interface {
	Query(ctx context.Context, userIDs []int64) ([]presence.Status, error)
	// Visible is the one rule for who sees whose presence (presence.Service.Visible).
	Visible(ctx context.Context, viewer, subject int64) (bool, error)
}

// Metrics is what the use cases count (api/obs.Metrics); nil counts nothing.
type Metrics interface {
	Gauge(name, help string, read func() float64)
	Counter(name, help string, read func() float64)
	Fanout(n int)
}

// Deps are the app's collaborators.
type Deps struct {
	Store    *repo.Store
	IDs      IDs
	Delivery Delivery
	Objects  Objects // nil: media answers unavailable
	Presence Presence
	Metrics  Metrics
	Log      *slog.Logger
	// SendIDKey derives message ids from UUIDv7 client_msg_ids
	// (repo.Store.SendIDKey); nil: every send takes the send_dedupe claim.
	SendIDKey []byte
	// CatchUp says when requests must read across DCs (repo.CatchUp); nil: never.
	CatchUp *repo.CatchUp
	// BeforeSend checks every body before it is stored (beforesend.go); nil: none.
	BeforeSend BeforeSendHook
}

// App is one chatd node's use cases and the node-local state they keep:
// caches, admission, rate limits. Every method is safe for concurrent use.
type App struct {
	cfg      Config
	store    *repo.Store
	ids      IDs
	delivery Delivery
	objects  Objects
	presence Presence
	metrics  Metrics
	log      *slog.Logger
	now      func() time.Time
	catchUp  *repo.CatchUp

	chatMoves *relayLimiter // pull-mode groups' chat-list moves, per conversation
	pullMoves *keyedWork    // pull-mode groups' chat-list moves, off the send
	// firstVersions writes members versions of groups made before v0015.
	firstVersions *keyedWork
	deletions     *keyedWork    // account deletions (deletion.go), one per account
	exports       chan struct{} // a slot per export running (export.go)
	sendLimit     *sendLimiter
	direct        *directMembers
	groups        *groupMembers
	sendGate      *sendGate
	sendKey       sendIDKey // nil: no derived message ids
	receipts      *receiptCoalescer
	typingLimit   *relayLimiter
	changeLock    messageLocks // orders one message's edit and recall announces on this node
	hashes        hashPool
	authLimit     *authLimits
	beforeSend    *beforeSend // nil: no check
	// dummyHash, verified when a login names no account, is made with the
	// configured Argon2 cost, so a failed lookup costs what a failed
	// password check does and response times do not tell which handles
	// exist.
	dummyHash string
}

// New builds the app. It registers the send admission's gauges with d.Metrics.
func New(cfg Config, d Deps) *App {
	if d.Metrics == nil {
		d.Metrics = noMetrics{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Deletion.defaults()
	if cfg.ExportConcurrency <= 0 {
		cfg.ExportConcurrency = 4
	}
	if cfg.ExportLines <= 0 {
		cfg.ExportLines = ExportLinesPerResponse
	}
	a := &App{cfg: cfg, store: d.Store, ids: d.IDs, delivery: d.Delivery, objects: d.Objects, presence: d.Presence,
		metrics: d.Metrics, log: d.Log, catchUp: d.CatchUp, now: func() time.Time { return time.Now().UTC() },
		chatMoves: newRelayLimiter(pullChatMoveEvery), pullMoves: newKeyedWork(pullMoveSlots, cfg.RequestTimeout, d.Log),
		firstVersions: newKeyedWork(firstVersionSlots, cfg.RequestTimeout, d.Log),
		deletions:     newKeyedWork(deletionSlots, quietTime(cfg)+deletionTime, d.Log), exports: make(chan struct{}, cfg.ExportConcurrency),
		sendLimit: newSendLimiter(cfg.SendRate, cfg.SendBurst), direct: newDirectMembers(cfg.DirectCache),
		groups:      newGroupMembers(cfg.GroupCache),
		sendGate:    newSendGate(cfg.SendConcurrency, cfg.SendQueue, cfg.SendLatencyTarget),
		typingLimit: newRelayLimiter(cfg.TypingEvery),
		hashes:      newHashPool(cfg.Auth.HashConcurrency), authLimit: newAuthLimits(cfg.Auth)}
	// An error here is crypto/rand failing, which registration would hit too.
	a.dummyHash, _ = hashPassword("not-a-real-password", cfg.Argon2)
	if len(d.SendIDKey) > 0 {
		a.sendKey = sendIDKey(d.SendIDKey)
	}
	a.beforeSend = newBeforeSend(d.BeforeSend, cfg.BeforeSend, d.Metrics)
	a.receipts = newReceiptCoalescer(cfg.ReceiptEvery, cfg.ReceiptRate, cfg.ReceiptBurst, a.flushReceipt)
	m := d.Metrics
	m.Gauge("ringchat_send_concurrency_limit", "Sends this node admits at once now (adapts to Cassandra's latency).",
		func() float64 { return a.sendGate.state().limit })
	m.Gauge("ringchat_sends_in_flight", "Sends being written on this node.",
		func() float64 { return float64(a.sendGate.state().inFlight) })
	m.Gauge("ringchat_sends_waiting", "Sends over the bound waiting for a slot on this node.",
		func() float64 { return float64(a.sendGate.state().queue) })
	m.Counter("ringchat_sends_queued_total", "Sends that waited for a slot before being written.",
		func() float64 { return float64(a.sendGate.state().queued) })
	m.Counter("ringchat_sends_shed_total", "Sends refused (unavailable, retry hint) because the send queue was full or the wait would overrun.",
		func() float64 { return float64(a.sendGate.state().shed) })
	return a
}

type noMetrics struct{}

func (noMetrics) Gauge(string, string, func() float64)   {}
func (noMetrics) Counter(string, string, func() float64) {}
func (noMetrics) Fanout(int)                             {}

// newID is the one place the app takes an id: once the node may no longer
// make them, the caller gets unavailable and retries on another node.
func (a *App) newID() (int64, error) {
	id, err := a.ids.TryNext()
	if err != nil {
		return 0, repo.Errorf(repo.CodeUnavailable, "this node is restarting: retry")
	}
	return id, nil
}
