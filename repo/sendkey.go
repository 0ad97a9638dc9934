package repo

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/gocql/gocql"
)

const cqlClaimSendIDKey = `INSERT INTO send_id_key (name, key) VALUES ('v1', ?) IF NOT EXISTS`

// SendIDKeyBytes is the size of the key message ids of UUIDv7 sends are derived with.
const SendIDKeyBytes = 32

// SendIDKey returns the keyspace's secret for deterministic message ids,
// creating it if no node has yet: one lightweight transaction, at SERIAL so two
// data centres starting at once cannot each keep a key of their own. The key
// never changes once written (a new one would give a retry a new id).
func (st *Store) SendIDKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, SendIDKeyBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("make send id key: %w", err)
	}
	var name string
	var got []byte
	applied, err := st.raw.Query(cqlClaimSendIDKey, fresh).SerialConsistency(gocql.Serial).
		WithContext(ctx).ScanCAS(&name, &got)
	if err != nil {
		return nil, translate("claim send id key", err)
	}
	if applied {
		return fresh, nil
	}
	if len(got) != SendIDKeyBytes {
		return nil, Errorf(CodeInternal, "send_id_key holds %d bytes, want %d", len(got), SendIDKeyBytes)
	}
	return got, nil
}
