package repo

import (
	"context"
	"time"
)

// Account deletion's rows (schema v0019, docs/accounts.md).

// DeletionShards spreads account_deletions over partitions.
const DeletionShards = 16

const (
	cqlMarkUserDeleted = `UPDATE users SET deleted_at = ?, password_hash = '', updated_at = ? WHERE user_id = ?`
	cqlClearProfile    = `UPDATE users SET handle = null, display_name = null, phone = null, avatar_media_id = null WHERE user_id = ?`
	cqlPutDeletion     = `INSERT INTO account_deletions (shard, user_id, started_at) VALUES (?, ?, ?)`
	cqlDeletions       = `SELECT user_id, started_at FROM account_deletions WHERE shard = ? AND user_id > ? LIMIT ?`
	cqlDeletionDone    = `DELETE FROM account_deletions WHERE shard = ? AND user_id = ?`
)

func deletionShard(userID int64) int { return int(uint64(userID) % DeletionShards) }

// StartDeletion records a deletion under way, before any of it is done, so a
// node that dies half-way leaves it for another to finish. A run writes it
// again as it goes (at: now), so a live run is not taken for a dead one.
func (st *Store) StartDeletion(ctx context.Context, userID int64, at time.Time) error {
	return translate("record account deletion", st.query(ctx, cqlPutDeletion, deletionShard(userID), userID, at).ExecRelease())
}

// PendingDeletion is a deletion under way.
type PendingDeletion struct {
	UserID    int64     `db:"user_id"`
	StartedAt time.Time `db:"started_at"`
}

// PendingDeletions reads the deletions under way, at most pages pages of
// limit rows per shard.
func (st *Store) PendingDeletions(ctx context.Context, limit, pages int) ([]PendingDeletion, error) {
	var out []PendingDeletion
	for shard := range DeletionShards {
		after := int64(0)
		for range pages {
			var page []PendingDeletion
			if err := st.query(ctx, cqlDeletions, shard, after, limit).SelectRelease(&page); err != nil {
				return nil, translate("list account deletions", err)
			}
			out = append(out, page...)
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].UserID
		}
	}
	return out, nil
}

// FinishDeletion forgets a deletion whose every step is done.
func (st *Store) FinishDeletion(ctx context.Context, userID int64) error {
	return translate("finish account deletion", st.query(ctx, cqlDeletionDone, deletionShard(userID), userID).ExecRelease())
}

// MarkUserDeleted stamps the account deleted and empties its password hash,
// so no login matches it from here on.
func (st *Store) MarkUserDeleted(ctx context.Context, userID int64, at time.Time) error {
	return translate("mark user deleted", st.query(ctx, cqlMarkUserDeleted, at, at, userID).ExecRelease())
}

// ClearProfile empties a deleted account's profile: what stays is its id,
// created_at and deleted_at.
func (st *Store) ClearProfile(ctx context.Context, userID int64) error {
	return translate("clear profile", st.query(ctx, cqlClearProfile, userID).ExecRelease())
}
