package repo

import (
	"context"
	"time"

	"github.com/gocql/gocql"
)

// A direct send in three statements besides the message row: one read of
// both members' chat positions (with the block state, schema 0014), one
// unlogged batch moving the chat in both lists and touching the
// conversation's newest message, and one unlogged batch of both inbox rows
// (AppendEvent). They were seven: a block read, two position reads, two
// list batches, the conversation cell and two inbox rows (issue 13).

const (
	cqlDirectPositions = `SELECT user_id, section, activity_id, blocks_peer FROM chat_positions WHERE user_id IN (?, ?) AND conv_id = ?`
	cqlSetBlocksPeer   = `UPDATE chat_positions USING TTL ? SET blocks_peer = ? WHERE user_id = ? AND conv_id = ?`
	cqlSetBlocksPeerAt = `UPDATE chat_positions USING TTL ? AND TIMESTAMP ? SET blocks_peer = ? WHERE user_id = ? AND conv_id = ?`

	// BlockFlagTTL bounds how long a blocks_peer cell is trusted without
	// reading blocks_by_user: a node older than schema 0014 changes blocks
	// without writing it.
	BlockFlagTTL = time.Hour
)

// DirectPosition is one member's chat_positions row of a direct
// conversation, as a send reads it.
type DirectPosition struct {
	UserID   int64
	Listed   bool // the row holds a place in the list (section and activity)
	Section  int
	Activity int64
	// BlocksPeer: whether UserID blocks the other member; nil: not known
	// here (read blocks_by_user, then SetBlocksPeer).
	BlocksPeer *bool
}

// DirectPositions reads both members' rows of a direct conversation in one
// statement. A member without a row comes back not Listed, BlocksPeer nil.
func (st *Store) DirectPositions(ctx context.Context, convID int64, members [2]int64) ([2]DirectPosition, error) {
	out := [2]DirectPosition{{UserID: members[0]}, {UserID: members[1]}}
	iter := st.raw.Query(cqlDirectPositions, members[0], members[1], convID).WithContext(ctx).Iter()
	var (
		user     int64
		section  *int
		activity *int64
		blocks   *bool
	)
	for iter.Scan(&user, &section, &activity, &blocks) {
		for i := range out {
			if out[i].UserID != user {
				continue
			}
			// A row holding only blocks_peer (a block written before the
			// first move) is no place in the list.
			out[i].Listed = section != nil
			if section != nil {
				out[i].Section = *section
			}
			if activity != nil {
				out[i].Activity = *activity
			}
			out[i].BlocksPeer = blocks
		}
		section, activity, blocks = nil, nil, nil
	}
	return out, translate("read direct chat positions", iter.Close())
}

// SetBlocksPeer records on p's row of a direct conversation whether p's
// user blocks its other member, if that row holds a place in the list (p as
// DirectPositions read it): a row holding only the flag would be a chat
// without a place to a node older than schema 0014, and a row created later
// starts with no flag, which sends resolve from blocks_by_user. at zero: now
// (a block or unblock); otherwise the write's time, for a value read from
// blocks_by_user at a time no later than at plus twice the clock skew: a
// change acknowledged since, stamped by its node's clock, then wins over it.
func (st *Store) SetBlocksPeer(ctx context.Context, convID int64, p DirectPosition, blocks bool, at time.Time) error {
	if !p.Listed {
		return nil
	}
	ttl := ttlSeconds(BlockFlagTTL)
	var err error
	if at.IsZero() {
		err = st.query(ctx, cqlSetBlocksPeer, ttl, blocks, p.UserID, convID).ExecRelease()
	} else {
		err = st.query(ctx, cqlSetBlocksPeerAt, ttl, at.UnixMicro(), blocks, p.UserID, convID).ExecRelease()
	}
	return translate("write block flag", err)
}

// MoveDirect is TouchConversation and TouchChats of a direct send from the
// positions its send read: one unlogged batch of the conversation's newest
// message and, per member already listed, the move (activityMove: a
// delete, an insert and the position, which readers repair if half of it is
// lost). A member not listed yet is listed as TouchChats would, on its own.
func (st *Store) MoveDirect(ctx context.Context, convID, msgID int64, pos [2]DirectPosition) error {
	b := st.raw.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
	b.Query(cqlTouchConv, idTimestamp(msgID), msgID, convID)
	for _, p := range pos {
		switch {
		case !p.Listed:
			if err := st.moveChat(ctx, p.UserID, convID, -1, msgID); err != nil {
				return err
			}
		case msgID > p.Activity: // else a newer message moved it already
			addActivityMove(b, p.UserID, convID, position{Section: p.Section, Activity: p.Activity}, msgID)
		}
	}
	return translate("move direct chat", st.raw.ExecuteBatch(b))
}
