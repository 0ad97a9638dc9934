package repo

import (
	"context"
	"errors"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"
)

// Sections of a chat list (chats_by_activity.section).
const (
	SectionPinned   = 0
	SectionMain     = 1
	SectionArchived = 2
)

// SectionOf is where a conversation with these settings is listed: archived
// wins over pinned.
func SectionOf(pinned, archived bool) int {
	switch {
	case archived:
		return SectionArchived
	case pinned:
		return SectionPinned
	}
	return SectionMain
}

const (
	cqlGetPosition   = `SELECT section, activity_id FROM chat_positions WHERE user_id = ? AND conv_id = ?`
	cqlInsertChat    = `INSERT INTO chats_by_activity (user_id, section, activity_id, conv_id) VALUES (?, ?, ?, ?)`
	cqlDeleteChat    = `DELETE FROM chats_by_activity WHERE user_id = ? AND section = ? AND activity_id = ? AND conv_id = ?`
	cqlSetActivity   = `UPDATE chat_positions USING TIMESTAMP ? SET activity_id = ? WHERE user_id = ? AND conv_id = ?`
	cqlSetSection    = `UPDATE chat_positions SET section = ? WHERE user_id = ? AND conv_id = ?`
	cqlDropPosition  = `DELETE FROM chat_positions WHERE user_id = ? AND conv_id = ?`
	cqlChatsPage     = `SELECT activity_id, conv_id FROM chats_by_activity WHERE user_id = ? AND section = ? LIMIT ?`
	cqlChatsPageFrom = `SELECT activity_id, conv_id FROM chats_by_activity WHERE user_id = ? AND section = ? AND (activity_id, conv_id) < (?, ?) LIMIT ?`
)

// ChatKey is a conversation's place in a user's chat list.
type ChatKey struct {
	Section  int
	Activity int64
	ConvID   int64
}

type position struct {
	Section  int   `db:"section"`
	Activity int64 `db:"activity_id"`
}

// position reads a user's place of convID in the list. A row holding only
// blocks_peer (schema 0014: DirectPositions says how one arises) is none.
func (st *Store) position(ctx context.Context, userID, convID int64) (position, bool, error) {
	var section *int
	var activity *int64
	err := st.rawQuery(ctx, cqlGetPosition, userID, convID).Scan(&section, &activity)
	if errors.Is(err, gocql.ErrNotFound) || (err == nil && section == nil) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, translate("read chat position", err)
	}
	p := position{Section: *section}
	if activity != nil { // null on the listed marker's row
		p.Activity = *activity
	}
	return p, true, nil
}

// JoinChatList lists a conversation for a user who joined it at activity (an
// id of the join time), unless it is listed already at a newer activity.
func (st *Store) JoinChatList(ctx context.Context, userID, convID, activity int64) error {
	return st.moveChat(ctx, userID, convID, -1, max(activity, convID))
}

// SetChatSection moves a user's row of convID to section (after pin/archive).
func (st *Store) SetChatSection(ctx context.Context, userID, convID int64, section int) error {
	return st.moveChat(ctx, userID, convID, section, 0)
}

// TouchChats moves the conversation to the top of each member's chat list
// for message msgID: per member one point read and one unlogged batch (delete
// the old key, insert the new one, record it: activityMove), never a read of
// the list.
func (st *Store) TouchChats(ctx context.Context, convID int64, members []int64, msgID int64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for _, u := range members {
		g.Go(func() error { return st.moveChat(gctx, u, convID, -1, msgID) })
	}
	return translate("move chat list rows", g.Wait())
}

// moveChat moves a user's row of convID to section (-1: where it is) and
// activity (0: what it has). A user with no position yet (a conversation
// older than chat_positions) gets one from their settings row.
func (st *Store) moveChat(ctx context.Context, userID, convID int64, section int, activity int64) error {
	cur, ok, err := st.position(ctx, userID, convID)
	if err != nil {
		return err
	}
	if !ok {
		uc, err := st.GetUserConversation(ctx, userID, convID)
		if IsCode(err, CodeNotFound) {
			return nil // not (or no longer) a member: nothing to list
		}
		if err != nil {
			return err
		}
		cur = position{Section: -1, Activity: -1}
		if section < 0 {
			section = SectionOf(uc.Pinned, uc.Archived)
		}
		if activity == 0 {
			activity = convID
		}
	}
	if section < 0 {
		section = cur.Section
	}
	if activity == 0 || activity < cur.Activity {
		activity = cur.Activity // a newer message already moved it
	}
	if section == cur.Section && activity == cur.Activity {
		return nil
	}
	if ok && section == cur.Section {
		return translate("move chat list row", st.raw.ExecuteBatch(st.activityMove(ctx, userID, convID, cur, activity)))
	}
	b := st.raw.NewBatch(gocql.LoggedBatch).WithContext(ctx)
	if ok {
		b.Query(cqlDeleteChat, userID, cur.Section, cur.Activity, convID)
	}
	b.Query(cqlInsertChat, userID, section, activity, convID)
	if section != cur.Section {
		b.Query(cqlSetSection, section, userID, convID)
	}
	if activity != cur.Activity {
		b.Query(cqlSetActivity, idTimestamp(activity), activity, userID, convID)
	}
	return translate("move chat list row", st.raw.ExecuteBatch(b))
}

// activityMove is the move of every message (the section stays): one
// unlogged batch, without the batch log. The batch spans two partitions, the
// section's list (user_id, section) and the positions (user_id), and both
// Cassandra and ScyllaDB log a logged batch unless it is a single mutation
// (Cassandra 5.0 BatchStatement.executeWithoutConditions: "mutateAtomic =
// isLogged() && mutations.size() > 1", one mutation per keyspace and
// partition key, BatchUpdatesCollector; ScyllaDB batch_statement.cc likewise,
// one mutation per table and key), so logged it paid the log on every send.
// Readers need no log: the delete and insert share a partition, so they land
// together, and the position (USING TIMESTAMP of the message) lands or not on
// its own; the next listing (CheckChat) repairs a row that disagrees with
// the position: the position to the row when the row is newer (its half
// landed alone), else the row to the position, as after two racing moves. A failed send's retry
// moves again, or finds the position moved and leaves the row to the reader.
func (st *Store) activityMove(ctx context.Context, userID, convID int64, cur position, activity int64) *gocql.Batch {
	b := st.raw.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
	addActivityMove(b, userID, convID, cur, activity)
	return b
}

// addActivityMove adds activityMove's statements to b (MoveDirect batches
// both members' moves).
func addActivityMove(b *gocql.Batch, userID, convID int64, cur position, activity int64) {
	b.Query(cqlDeleteChat, userID, cur.Section, cur.Activity, convID)
	b.Query(cqlInsertChat, userID, cur.Section, activity, convID)
	b.Query(cqlSetActivity, idTimestamp(activity), activity, userID, convID)
}

// ChatsPage reads up to limit rows of one section of a user's list, after
// the key from (nil: from the top), newest activity first.
func (st *Store) ChatsPage(ctx context.Context, userID int64, section int, from *ChatKey, limit int) ([]ChatKey, error) {
	var iter *gocql.Iter
	if from == nil {
		iter = st.rawQuery(ctx, cqlChatsPage, userID, section, limit).Iter()
	} else {
		iter = st.rawQuery(ctx, cqlChatsPageFrom, userID, section, from.Activity, from.ConvID, limit).Iter()
	}
	var out []ChatKey
	k := ChatKey{Section: section}
	for iter.Scan(&k.Activity, &k.ConvID) {
		out = append(out, k)
	}
	return out, translate("read chat list", iter.Close())
}

// CheckChat tells whether a list row is the conversation's live one. A stale
// row (a raced move left it, or the user left the conversation) is deleted,
// and the live row is written again in case the race lost it too.
func (st *Store) CheckChat(ctx context.Context, userID int64, k ChatKey, member bool) (bool, error) {
	cur, ok, err := st.position(ctx, userID, k.ConvID)
	if err != nil {
		return false, err
	}
	if ok && member && cur.Section == k.Section && cur.Activity == k.Activity {
		return true, nil
	}
	if ok && member && cur.Section == k.Section && k.Activity > cur.Activity {
		// The list half of an unlogged move (activityMove) landed and its
		// position half was lost: the newest activity wins, as the position's
		// USING TIMESTAMP makes it win for racing moves. Reverting the row to
		// the stale position would put the chat below its newest message.
		return true, translate("repair chat position", st.rawQuery(ctx, cqlSetActivity, idTimestamp(k.Activity), k.Activity, userID, k.ConvID).Exec())
	}
	if !ok && member { // a row whose position write was lost: it is the live one
		b := st.raw.NewBatch(gocql.LoggedBatch).WithContext(ctx)
		b.Query(cqlSetSection, k.Section, userID, k.ConvID)
		b.Query(cqlSetActivity, idTimestamp(k.Activity), k.Activity, userID, k.ConvID)
		return true, translate("repair chat position", st.raw.ExecuteBatch(b))
	}
	b := st.raw.NewBatch(gocql.LoggedBatch).WithContext(ctx)
	b.Query(cqlDeleteChat, userID, k.Section, k.Activity, k.ConvID)
	switch {
	case !member:
		b.Query(cqlDropPosition, userID, k.ConvID)
	case ok:
		b.Query(cqlInsertChat, userID, cur.Section, cur.Activity, k.ConvID)
	}
	return false, translate("repair chat list", st.raw.ExecuteBatch(b))
}

// listedMarker is the chat_positions row (conv_id 0, never an id) saying a
// user's conversations are all in chats_by_activity.
const listedMarker = 0

// EnsureChatList lists, once per user, every conversation the user had before
// chats_by_activity existed (or whose list row was lost), at its newest
// message. It costs one point read when done; the one-off pass reads each of
// the user's conversations once, in pages.
func (st *Store) EnsureChatList(ctx context.Context, userID int64) error {
	if _, ok, err := st.position(ctx, userID, listedMarker); err != nil || ok {
		return err
	}
	for after := int64(0); ; {
		rows, err := st.ListUserConversations(ctx, userID, after, 1000)
		if err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(fanoutParallelism)
		for _, uc := range rows {
			g.Go(func() error {
				if _, ok, err := st.position(gctx, userID, uc.ConvID); err != nil || ok {
					return err
				}
				newest, err := st.NewestMessageID(gctx, uc.ConvID)
				if err != nil {
					return err
				}
				return st.moveChat(gctx, userID, uc.ConvID, SectionOf(uc.Pinned, uc.Archived), max(newest, uc.ConvID))
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if len(rows) < 1000 {
			break
		}
		after = rows[len(rows)-1].ConvID
	}
	return translate("mark chat list", st.rawQuery(ctx, cqlSetSection, -1, userID, listedMarker).Exec())
}
