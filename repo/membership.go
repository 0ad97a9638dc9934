package repo

import (
	"context"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/snowflake"
)

const (
	cqlDeleteMember   = `DELETE FROM members_by_conversation WHERE conv_id = ? AND user_id = ?`
	cqlDeleteUserConv = `DELETE FROM conversations_by_user WHERE user_id = ? AND conv_id = ?`
	cqlAddPull        = `INSERT INTO pull_conversations_by_user (user_id, conv_id) VALUES (?, ?)`
	cqlRemovePull     = `DELETE FROM pull_conversations_by_user WHERE user_id = ? AND conv_id = ?`
	cqlLogChange      = `INSERT INTO membership_changes (conv_id, change_id, kind, user_id, payload) VALUES (?, ?, ?, ?, ?) USING TTL ?`
	cqlPendingChanges = `SELECT conv_id, change_id, kind, user_id, payload FROM membership_changes WHERE conv_id = ? LIMIT ?`
	cqlChangeSent     = `DELETE FROM membership_changes WHERE conv_id = ? AND change_id = ?`
	cqlClaimGroup     = `INSERT INTO group_create_dedupe (creator_id, client_group_id, conv_id, done) VALUES (?, ?, ?, false) IF NOT EXISTS USING TTL ?`
	cqlFinishGroup    = `UPDATE group_create_dedupe USING TTL ? SET conv_id = ?, done = true WHERE creator_id = ? AND client_group_id = ?`
)

// changeTTL is how long an undelivered membership event waits for a repair.
const changeTTL = 7 * 24 * time.Hour

// maxPendingChanges bounds one read of a conversation's undelivered changes.
const maxPendingChanges = 100

// MembershipChange is a member.added or member.removed event stored with the
// change itself, until the event is in every member's inbox.
type MembershipChange struct {
	ConvID  int64  `db:"conv_id"`
	ID      int64  `db:"change_id"`
	Kind    string `db:"kind"`
	UserID  int64  `db:"user_id"`
	Payload string `db:"payload"`
}

// memberBatch writes (or, remove, deletes) one user's membership rows in one
// logged batch, with the change to announce when ch is not nil. One batch has
// one timestamp, so of two concurrent changes the later wins in every table.
func (st *Store) memberBatch(ctx context.Context, convID, userID int64, add bool, role string, at time.Time, fanout string, ch *MembershipChange) error {
	return st.memberBatchAt(ctx, convID, userID, add, role, at, fanout, ch, time.Time{})
}

// memberBatchAt is memberBatch with its cells written at writeTime (zero: now).
func (st *Store) memberBatchAt(ctx context.Context, convID, userID int64, add bool, role string, at time.Time, fanout string, ch *MembershipChange, writeTime time.Time) error {
	b := st.raw.NewBatch(gocql.LoggedBatch).WithContext(ctx)
	if !writeTime.IsZero() {
		b.WithTimestamp(writeTime.UnixMicro())
	}
	if add {
		b.Query(cqlInsertMember, convID, userID, role, at)
		b.Query(cqlInsertUserConv, userID, convID, KindGroup, at, int64(0))
		if fanout == FanoutPull {
			b.Query(cqlAddPull, userID, convID)
		}
	} else {
		b.Query(cqlDeleteMember, convID, userID)
		b.Query(cqlRemovePull, userID, convID)
		b.Query(cqlDeleteUserConv, userID, convID)
		b.Query(cqlDropPosition, userID, convID) // its list row goes at the next listing
	}
	if ch != nil {
		b.Query(cqlLogChange, convID, ch.ID, ch.Kind, ch.UserID, ch.Payload, ttlSeconds(changeTTL))
	}
	if err := st.raw.ExecuteBatch(b); err != nil || !add {
		return err
	}
	return st.JoinChatList(ctx, userID, convID, snowflake.MinIDAt(at))
}

// AddMember adds a user to a group, with the change to announce (nil: none),
// then gives the group a new members version (BumpMembers).
func (st *Store) AddMember(ctx context.Context, convID, userID int64, role string, at time.Time, fanout string, ch *MembershipChange) error {
	if err := st.memberBatch(ctx, convID, userID, true, role, at, fanout, ch); err != nil {
		return translate("add member", err)
	}
	return st.BumpMembers(ctx, convID)
}

// RemoveMember takes a user out of a group (member list, their list, pull
// list) and drops their receipt watermarks; ch is the change to announce.
// Then the group gets a new members version (BumpMembers), so no node sends
// to a member list that still holds them.
func (st *Store) RemoveMember(ctx context.Context, convID, userID int64, ch *MembershipChange) error {
	if err := st.removeMember(ctx, convID, userID, ch); err != nil {
		return err
	}
	return st.BumpMembers(ctx, convID)
}

func (st *Store) removeMember(ctx context.Context, convID, userID int64, ch *MembershipChange) error {
	if err := st.memberBatch(ctx, convID, userID, false, "", time.Time{}, "", ch); err != nil {
		return translate("remove member", err)
	}
	return translate("remove member", st.dropWatermarks(ctx, convID, userID))
}

// PendingChanges lists a conversation's changes whose event may not have been sent.
func (st *Store) PendingChanges(ctx context.Context, convID int64) ([]MembershipChange, error) {
	var out []MembershipChange
	err := st.query(ctx, cqlPendingChanges, convID, maxPendingChanges).SelectRelease(&out)
	return out, translate("read pending membership changes", err)
}

// ChangeSent forgets a change once its event is in every member's inbox.
func (st *Store) ChangeSent(ctx context.Context, convID, changeID int64) error {
	return translate("forget membership change", st.query(ctx, cqlChangeSent, convID, changeID).ExecRelease())
}

// GroupClaim is the state of a group create's idempotency key.
type GroupClaim struct {
	ConvID int64
	Won    bool // this call made the claim: create the group under ConvID
	Done   bool // an earlier create finished: return the group as it is
}

// ClaimGroupCreate claims (creator, key) for a new group id, or returns the
// group an earlier call with the same key claimed.
func (st *Store) ClaimGroupCreate(ctx context.Context, creator int64, key string, newID int64) (GroupClaim, error) {
	row := map[string]any{}
	applied, err := st.lwt(ctx, withinDC, cqlClaimGroup, creator, key, newID, ttlSeconds(st.retention.Dedupe)).MapScanCAS(row)
	if err != nil {
		return GroupClaim{}, translate("claim group create", err)
	}
	if applied {
		return GroupClaim{ConvID: newID, Won: true}, nil
	}
	return GroupClaim{ConvID: casInt64(row, "conv_id"), Done: casBool(row, "done")}, nil
}

// FinishGroupCreate records that the group of (creator, key) is fully written.
func (st *Store) FinishGroupCreate(ctx context.Context, creator int64, key string, convID int64) error {
	err := st.query(ctx, cqlFinishGroup, ttlSeconds(st.retention.Dedupe), convID, creator, key).ExecRelease()
	return translate("finish group create", err)
}
