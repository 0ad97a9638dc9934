package repo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/gocql/gocql"
)

const (
	cqlGetSendIDKey   = `SELECT key FROM send_id_key WHERE name = 'v1'`
	cqlClaimSendIDKey = `INSERT INTO send_id_key (name, key) VALUES ('v1', ?) IF NOT EXISTS`
)

// SendIDKeyBytes is the size of the key message ids of UUIDv7 sends are derived with.
const SendIDKeyBytes = 32

// SendIDKey returns the keyspace's secret for deterministic message ids
// (EnsureSendIDKey).
func (st *Store) SendIDKey(ctx context.Context) ([]byte, error) {
	return EnsureSendIDKey(ctx, st.raw)
}

// EnsureSendIDKey returns the keyspace's secret for deterministic message
// ids, creating it if no one has yet. ringchat-migrate up creates it; chatd
// only reads it (at the session's consistency, so a SELECT grant is enough
// and a start needs no other data centre) and creates it only on a keyspace
// migrated before it existed: one lightweight transaction, at SERIAL so two
// data centres starting at once cannot each keep a key of their own, then
// the key that won. The key never changes once written (a new one would
// give a retry a new id).
func EnsureSendIDKey(ctx context.Context, session *gocql.Session) ([]byte, error) {
	var got []byte
	err := session.Query(cqlGetSendIDKey).WithContext(ctx).Scan(&got)
	switch {
	case err == nil:
		return checkSendIDKey(got)
	case !errors.Is(err, gocql.ErrNotFound):
		return nil, translate("read send id key", err)
	}
	fresh := make([]byte, SendIDKeyBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("make send id key: %w", err)
	}
	// By column name: ScyllaDB answers a conditional statement with the whole
	// old row, which a positional ScanCAS misreads (docs/scylla.md).
	current := map[string]any{}
	applied, err := session.Query(cqlClaimSendIDKey, fresh).SerialConsistency(gocql.Serial).
		WithContext(ctx).MapScanCAS(current)
	if err != nil {
		return nil, translate("claim send id key", err)
	}
	if applied {
		return fresh, nil
	}
	got, _ = current["key"].([]byte)
	return checkSendIDKey(got)
}

func checkSendIDKey(key []byte) ([]byte, error) {
	if len(key) != SendIDKeyBytes {
		return nil, Errorf(CodeInternal, "send_id_key holds %d bytes, want %d", len(key), SendIDKeyBytes)
	}
	return key, nil
}
