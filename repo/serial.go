package repo

import (
	"context"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
)

// A lightweight transaction runs Paxos among a claim's replicas. At LOCAL_SERIAL
// those are the coordinator's data centre's replicas only, so two DCs can each
// grant the same claim at once; SERIAL takes a quorum of all replicas, which
// costs cross-DC round trips (four for an INSERT IF NOT EXISTS) and fails while
// that quorum is out of reach. docs/cluster.md gives each claim's scope and why.
type scope int

const (
	// withinDC: the session's serial consistency (--serial-consistency,
	// LOCAL_SERIAL by default). Two DCs racing may both win; the claim's
	// purpose survives that (a retry is idempotent enough, a row is not resurrected).
	withinDC scope = iota
	// acrossDCs: always SERIAL, whatever the flag, because two winners would
	// break an invariant for good (two accounts for one handle, two DMs for a
	// pair, two nodes minting the same Snowflake ids).
	acrossDCs
)

// lwt is a conditional statement at its claim's serial consistency.
func (st *Store) lwt(ctx context.Context, sc scope, stmt string, args ...any) *gocql.Query {
	q := st.raw.Query(stmt, args...).WithContext(ctx)
	if sc == acrossDCs {
		q = q.SerialConsistency(gocql.Serial)
	}
	return q
}

// lwtx is lwt for gocqlx's ExecCAS.
func (st *Store) lwtx(ctx context.Context, sc scope, stmt string, args ...any) *gocqlx.Queryx {
	return gocqlx.Query(st.lwt(ctx, sc, stmt, args...), nil)
}

// ScyllaDB returns the old row with every conditional statement's answer, and
// Cassandra only when the condition failed, so results are read by column name
// (MapScanCAS), never by position (ScanCAS fails on the longer ScyllaDB row).

func casInt64(row map[string]any, col string) int64 { v, _ := row[col].(int64); return v }

func casBool(row map[string]any, col string) bool { v, _ := row[col].(bool); return v }
