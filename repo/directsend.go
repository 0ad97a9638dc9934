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
	cqlSetBlocksPeer   = `UPDATE chat_positions USING TTL ? AND TIMESTAMP ? SET blocks_peer = ? WHERE user_id = ? AND conv_id = ?`

	// BlockFlagTTL bounds how long a blocks_peer cell is trusted without
	// reading blocks_by_user: a node older than schema 0014 changes blocks
	// without writing it.
	BlockFlagTTL = time.Hour

	// BlockChangeBound is how long a block or unblock may take from the
	// timestamp it writes at to its last statement (its request's deadline).
	BlockChangeBound = 3 * time.Second

	// BlockRecordLag is how far before its read of blocks_by_user a send
	// stamps the flag it records from it: any block or unblock the read did
	// not see is stamped later, by any node's clock. It took its timestamp
	// at most BlockChangeBound before its write, a replica applies a write
	// at most Cassandra's write_request_timeout (2 s by default) after its
	// coordinator took it, and clocks differ by up to ClockSkew each way.
	BlockRecordLag = 2*ClockSkew + BlockChangeBound + 2*time.Second
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
	iter := st.rawQuery(ctx, cqlDirectPositions, members[0], members[1], convID).Iter()
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
			// A row holding only blocks_peer (a node older than this check
			// wrote one before the first move, or a flag write raced the
			// row's delete) is no place in the list, and its flag is not
			// trusted: blocks and unblocks write only listed rows, so
			// nothing keeps it current.
			out[i].Listed = section != nil
			if section != nil {
				out[i].Section = *section
				out[i].BlocksPeer = blocks
			}
			if activity != nil {
				out[i].Activity = *activity
			}
		}
		section, activity, blocks = nil, nil, nil
	}
	return out, translate("read direct chat positions", iter.Close())
}

// SetBlocksPeer records on p's row of a direct conversation whether p's
// user blocks its other member, if that row holds a place in the list (p as
// DirectPositions read it): a row holding only the flag would be a chat
// without a place to a node older than schema 0014, and a row listed later
// starts with no flag, which sends resolve from blocks_by_user. at is the
// write's time: a block's or unblock's own timestamp (as its blocks_by_user
// row), or, for a value a send read from blocks_by_user, the read's time
// less BlockRecordLag, so that any change the read missed wins over it.
func (st *Store) SetBlocksPeer(ctx context.Context, convID int64, p DirectPosition, blocks bool, at time.Time) error {
	if !p.Listed {
		return nil
	}
	if at.IsZero() {
		return Errorf(CodeInternal, "write block flag: no write time")
	}
	err := st.query(ctx, cqlSetBlocksPeer, ttlSeconds(BlockFlagTTL), at.UnixMicro(), blocks, p.UserID, convID).ExecRelease()
	return translate("write block flag", err)
}

// MoveDirect is TouchConversation and TouchChats of a direct send from the
// positions its send read: one unlogged batch of the conversation's newest
// message and, per member already listed, the move (activityMove: a
// delete, an insert and the position, which readers repair if half of it is
// lost). A member not listed yet is listed as TouchChats would, on its own.
// outbox rows ride in the same batch: a notification costs the send no
// statement of its own.
func (st *Store) MoveDirect(ctx context.Context, convID, msgID int64, pos [2]DirectPosition, outbox ...OutboxEntry) error {
	b := st.raw.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
	b.Query(cqlTouchConv, idTimestamp(msgID), msgID, convID)
	for _, e := range outbox {
		addOutbox(b, e)
	}
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
