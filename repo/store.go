package repo

import (
	"context"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
)

// Layout is the per-keyspace data layout (bucket sizes), fixed at keyspace creation
// and read from ringchat_settings by the schema package.
type Layout struct {
	MessageBucket time.Duration // window of messages_by_conversation partitions
	InboxBucket   time.Duration // window of inbox_by_user partitions
}

// ClockSkew is how far ahead of this node another chatd's clock may run, as
// the code is built: reads that go "up to now" look this far past now, the
// session feed reads back 2×ClockSkew (SessionEndOverlap), receipts and
// UUIDv7 client ids may be this far ahead. chatd's --clock-skew (default 1 s)
// is the operator's bound on the real skew, which the sync-lag check budgets
// for (sync-lag > send-deadline + --clock-skew, docs/sync.md); chatd refuses
// one above ClockSkew, so the allowance here always covers it, with margin at
// the default.
const ClockSkew = 2 * time.Second

// Retention holds the TTLs the stores write with.
type Retention struct {
	Session time.Duration // bearer token lifetime
	Inbox   time.Duration // how long sync can reach back
	Dedupe  time.Duration // how long a client_msg_id stays idempotent
	Ticket  time.Duration // WebSocket ticket lifetime
	// HandleClaim is how old a handle claim without its account row must be
	// before a registration may take the handle over (a registration that
	// failed half-way). It must exceed the longest registration.
	HandleClaim time.Duration
	// HandleHold is how long a deleted account's handle stays taken; then
	// a registration takes its claim over (docs/accounts.md).
	HandleHold time.Duration
	// SessionEnds is the TTL of the feed of ended sessions (SessionEndsTTL:
	// that of the largest bound, not of the writer's).
	SessionEnds time.Duration
}

// DefaultRetention is what chatd uses unless configured.
func DefaultRetention() Retention {
	return Retention{
		Session:     30 * 24 * time.Hour,
		Inbox:       30 * 24 * time.Hour,
		Dedupe:      24 * time.Hour,
		Ticket:      30 * time.Second,
		HandleClaim: time.Minute,
		HandleHold:  30 * 24 * time.Hour,
		SessionEnds: SessionEndsTTL,
	}
}

// Store is ringchat's Cassandra store. It is safe for concurrent use.
type Store struct {
	raw       *gocql.Session
	s         gocqlx.Session
	layout    Layout
	retention Retention
	endClock  *endStamps // session ends' stamps (sessionends.go)
}

// NewStore wraps a session bound to the ringchat keyspace.
func NewStore(session *gocql.Session, layout Layout, retention Retention) *Store {
	return &Store{raw: session, s: gocqlx.NewSession(session), layout: layout, retention: retention, endClock: &endStamps{}}
}

// Layout returns the store's bucket sizes.
func (st *Store) Layout() Layout { return st.layout }

// Retention returns the store's TTLs.
func (st *Store) Retention() Retention { return st.retention }

// Ping checks that the ring answers a trivial query.
func (st *Store) Ping(ctx context.Context) error {
	var v string
	err := st.raw.Query(`SELECT release_version FROM system.local`).WithContext(ctx).Scan(&v)
	return translate("ping", err)
}

// rawQuery is a driver query bound to ctx, at EACH_QUORUM while the local
// DC catches up (ReadAcrossDCs); lightweight transactions and serial reads
// are built apart (lwt) and keep their levels.
func (st *Store) rawQuery(ctx context.Context, stmt string, args ...any) *gocql.Query {
	return consistencyFor(ctx, st.raw.Query(stmt, args...).WithContext(ctx))
}

// newestWrite is the greatest of the WRITETIME()s read (nil: a null cell),
// for a write stamped just past a row's cells (UpdateSettings,
// ResumeDeviceSession).
func newestWrite(stamps ...*int64) int64 {
	var newest int64
	for _, at := range stamps {
		if at != nil {
			newest = max(newest, *at)
		}
	}
	return newest
}

func (st *Store) query(ctx context.Context, stmt string, args ...any) *gocqlx.Queryx {
	return gocqlx.Query(st.rawQuery(ctx, stmt, args...), nil)
}

func ttlSeconds(d time.Duration) int {
	if s := int(d / time.Second); s > 0 {
		return s
	}
	return 1
}
