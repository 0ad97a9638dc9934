package repo

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"
)

// Fan-out modes of a conversation.
const (
	FanoutPush = "push"
	FanoutPull = "pull"
)

const (
	cqlInsertGroup = `INSERT INTO conversations (conv_id, kind, name, photo_media_id, announcement, created_by, created_at, updated_at, fanout, members_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	cqlSetRole     = `UPDATE members_by_conversation USING TIMESTAMP ? SET role = ? WHERE conv_id = ? AND user_id = ?`
	cqlMemberStamp = `SELECT role, joined_at, WRITETIME(role), WRITETIME(joined_at) FROM members_by_conversation WHERE conv_id = ? AND user_id = ?`
	cqlMarkDeleted = `UPDATE conversations SET deleted = true, updated_at = ? WHERE conv_id = ?`
	cqlSetFanout   = `UPDATE conversations SET fanout = ? WHERE conv_id = ?`
	cqlListPull    = `SELECT conv_id FROM pull_conversations_by_user WHERE user_id = ? AND conv_id > ? LIMIT ?`
	cqlGetFanout   = `SELECT fanout FROM conversations WHERE conv_id = ?`
)

// CreateGroup writes a group's members (the owner's batch with ch, the
// member.added change), then its row: once the row exists every member row
// does, so a retry that finds it writes nothing (GroupWritten). Every cell
// carries the group's creation time (its id's, chosen by the server) as its
// write time: a retry racing the first attempt cannot undo a later leave,
// removal or role change, which are written at their own, later, time.
func (st *Store) CreateGroup(ctx context.Context, c Conversation, owner int64, members []int64, fanout string, ch *MembershipChange) error {
	all := append([]int64{owner}, members...)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for _, uid := range all {
		role, change := RoleMember, (*MembershipChange)(nil)
		if uid == owner {
			role, change = RoleOwner, ch
		}
		g.Go(func() error {
			return st.memberBatchAt(gctx, c.ID, uid, true, role, c.CreatedAt, fanout, change, c.CreatedAt)
		})
	}
	if err := g.Wait(); err != nil {
		return translate("insert group members", err)
	}
	// The first members version is the group's id: the member rows above
	// are all written, and any later change replaces it (BumpMembers).
	err := st.raw.Query(cqlInsertGroup, c.ID, KindGroup, c.Name, c.PhotoMediaID, c.Announcement, owner,
		c.CreatedAt, c.CreatedAt, fanout, c.ID).WithContext(ctx).WithTimestamp(c.CreatedAt.UnixMicro()).Exec()
	return translate("insert group", err)
}

// GroupWritten tells whether a group's row exists (CreateGroup got to its
// end) and whether the group was deleted since.
func (st *Store) GroupWritten(ctx context.Context, convID int64) (exists, deleted bool, err error) {
	var c Conversation
	err = translate("get conversation", st.query(ctx, cqlGetConv, convID).GetRelease(&c))
	if IsCode(err, CodeNotFound) {
		return false, false, nil
	}
	return err == nil, c.Deleted, err
}

// SetRole changes a member's role; CodeNotFound if they are not a member,
// or were removed while it ran.
//
// The role is written 1 µs past the newest write time of the membership's
// cells, not at now. A removal is stamped later than the membership it
// removes (memberBatch, at the remover's clock), so it shadows every role
// change of that membership, whichever reaches the replicas first: a role
// change racing a removal can never leave the removed member with a role
// (which a re-add would inherit). It was an IF EXISTS transaction, whose cell
// carries the Paxos ballot's time: a removal stamped before the ballot but
// applied between the transaction's read and its commit left the role
// behind, the change reported done (TestRoleChangeRacingRemovalLeavesNoRole).
// Two concurrent changes of one member's role get one timestamp, and the
// greater role string stays (Cassandra's rule for a tie).
func (st *Store) SetRole(ctx context.Context, convID, userID int64, role string) error {
	var cur string
	var joined time.Time
	var roleAt, joinedAt int64
	err := st.rawQuery(ctx, cqlMemberStamp, convID, userID).Scan(&cur, &joined, &roleAt, &joinedAt)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return translate("set role", err)
	}
	if err != nil || !isMember(Member{Role: cur, JoinedAt: joined}) {
		return Errorf(CodeNotFound, "not a member")
	}
	if err := st.rawQuery(ctx, cqlSetRole, max(roleAt, joinedAt)+1, role, convID, userID).Exec(); err != nil {
		return translate("set role", err)
	}
	// A removal applied meanwhile shadowed the write: say so rather than
	// report a change of a member who is gone. One still in flight now is
	// concurrent with the whole change, and shadows it all the same.
	if _, err := st.GetMember(ctx, convID, userID); err != nil {
		return err
	}
	return nil
}

// GroupUpdate lists the group fields to change; nil means unchanged.
type GroupUpdate struct {
	Name         *string
	PhotoMediaID *int64
	Announcement *string
}

// UpdateGroup writes only the fields given.
func (st *Store) UpdateGroup(ctx context.Context, convID int64, u GroupUpdate, now time.Time) error {
	sets, args := []string{"updated_at = ?"}, []any{now}
	if u.Name != nil {
		sets, args = append(sets, "name = ?"), append(args, *u.Name)
	}
	if u.PhotoMediaID != nil {
		sets, args = append(sets, "photo_media_id = ?"), append(args, *u.PhotoMediaID)
	}
	if u.Announcement != nil {
		sets, args = append(sets, "announcement = ?"), append(args, *u.Announcement)
	}
	args = append(args, convID)
	err := st.query(ctx, "UPDATE conversations SET "+strings.Join(sets, ", ")+" WHERE conv_id = ?", args...).ExecRelease()
	return translate("update group", err)
}

// DeleteGroup marks a group deleted and takes it out of every member's list.
func (st *Store) DeleteGroup(ctx context.Context, convID int64, members []int64, now time.Time) error {
	if err := st.query(ctx, cqlMarkDeleted, now, convID).ExecRelease(); err != nil {
		return translate("delete group", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for _, uid := range members {
		// No members version to bump: the row says deleted first, and no
		// send or member list reads past that.
		g.Go(func() error { return st.removeMember(gctx, convID, uid, nil) })
	}
	return g.Wait()
}

// SwitchToPull moves a group to pull fan-out for good: members' syncs read its timeline.
func (st *Store) SwitchToPull(ctx context.Context, convID int64, members []int64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for _, uid := range members {
		g.Go(func() error { return st.query(gctx, cqlAddPull, uid, convID).ExecRelease() })
	}
	if err := g.Wait(); err != nil {
		return translate("switch to pull", err)
	}
	return translate("switch to pull", st.query(ctx, cqlSetFanout, FanoutPull, convID).ExecRelease())
}

// Fanout returns a conversation's fan-out mode (push when unset).
func (st *Store) Fanout(ctx context.Context, convID int64) (string, error) {
	var f string
	if err := st.rawQuery(ctx, cqlGetFanout, convID).Scan(&f); err != nil {
		return "", translate("get fanout", err)
	}
	if f == "" {
		f = FanoutPush
	}
	return f, nil
}

// MaxPullPerSync bounds how many pull-mode groups one sync call reads; a user
// in more is answered in several calls, the cursor carrying where it is.
const MaxPullPerSync = 50

// PullConversations lists a user's pull-mode groups after the given id, at
// most limit, in id order.
func (st *Store) PullConversations(ctx context.Context, userID, after int64, limit int) ([]int64, error) {
	var ids []int64
	err := st.query(ctx, cqlListPull, userID, after, limit).SelectRelease(&ids)
	return ids, translate("list pull conversations", err)
}

// PullGroupCount counts a user's pull-mode groups, reading at most upTo rows.
func (st *Store) PullGroupCount(ctx context.Context, userID int64, upTo int) (int, error) {
	ids, err := st.PullConversations(ctx, userID, 0, upTo)
	return len(ids), err
}

// SortMembersBySeniority orders members by join time, oldest first (ties by user id).
func SortMembersBySeniority(ms []Member) {
	sort.Slice(ms, func(i, j int) bool {
		if !ms[i].JoinedAt.Equal(ms[j].JoinedAt) {
			return ms[i].JoinedAt.Before(ms[j].JoinedAt)
		}
		return ms[i].UserID < ms[j].UserID
	})
}
