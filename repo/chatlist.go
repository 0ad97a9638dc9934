package repo

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/snowflake"
)

const (
	cqlTouchConv = `UPDATE conversations USING TIMESTAMP ? SET last_msg_id = ? WHERE conv_id = ?`
	// Rows, not COUNT(*): LIMIT bounds a COUNT's one result row, not its scan.
	cqlUnreadSenders = `SELECT sender_id FROM messages_by_conversation WHERE conv_id = ? AND bucket = ? AND msg_id > ? LIMIT ?`
)

// idTimestamp is a write timestamp (µs) that orders like the id itself: the id's
// millisecond plus its low bits, so a larger id always wins last-write-wins.
func idTimestamp(id int64) int64 {
	return (snowflake.Time(id).UnixMilli())*1000 + (id&0x3fffff)%1000
}

// TouchConversation records a message as the conversation's newest, if it is.
func (st *Store) TouchConversation(ctx context.Context, convID, msgID int64) error {
	return translate("touch conversation", st.query(ctx, cqlTouchConv, idTimestamp(msgID), msgID, convID).ExecRelease())
}

// UnreadCap bounds an unread count: past it the list says "at least UnreadCap".
const UnreadCap = 100

// maxUnreadRows bounds the rows one count reads: the reader's own messages
// are read and skipped, so a reader who wrote much since reading gets
// "at least" what was found.
const maxUnreadRows = 2 * UnreadCap

// CountUnread counts other members' messages after readUpTo, at most
// UnreadCap, reading at most maxUnreadRows rows back from the newest message
// and no further than the buckets that can hold them. capped: there may be more.
func (st *Store) CountUnread(ctx context.Context, convID, reader, readUpTo, lastMsgID int64) (n int, capped bool, err error) {
	if lastMsgID <= readUpTo {
		return 0, false, nil
	}
	bucketMs := st.layout.MessageBucket.Milliseconds()
	newest := snowflake.Bucket(lastMsgID, bucketMs)
	floor := snowflake.Bucket(max(readUpTo, convID), bucketMs)
	read := 0
	for b := newest; b >= floor && b > newest-MaxEmptyBuckets; b-- {
		iter := st.rawQuery(ctx, cqlUnreadSenders, convID, b, readUpTo, maxUnreadRows-read).Iter()
		var sender int64
		for iter.Scan(&sender) {
			read++
			if sender != reader {
				n++
			}
		}
		if err := iter.Close(); err != nil {
			return 0, false, translate("count unread", err)
		}
		if n >= UnreadCap || read >= maxUnreadRows {
			return min(n, UnreadCap), true, nil
		}
	}
	return n, false, nil
}

// ConversationSettings lists a user's settings to change; nil means unchanged.
type ConversationSettings struct {
	MutedUntil *time.Time // zero time: unmute
	Pinned     *bool
	Archived   *bool
	Previews   *bool // false: notices of the conversation show no text
}

// cqlUserConvStamp reads a list row's kind (set by every write of the row
// itself, never by a settings change) and the newest write time of its cells.
const cqlUserConvStamp = `SELECT kind, WRITETIME(kind), WRITETIME(muted_until), WRITETIME(pinned), WRITETIME(archived), WRITETIME(hide_previews) FROM conversations_by_user WHERE user_id = ? AND conv_id = ?`

// UpdateSettings writes a user's own settings of one conversation;
// CodeNotFound if it is not in their list, or left it while this ran.
//
// As SetRole: the cells are written 1 µs past the newest write time of the
// row's cells, not at now and not by an IF EXISTS transaction (whose cells
// carry the Paxos ballot's time, so a removal stamped before the ballot but
// applied between its read and its commit left a row holding only the
// settings, which a re-add inherited: TestSettingsChangeRacingRemovalLeavesNoRow).
// A removal is stamped later than the row it removes, so it shadows every
// settings change of it. Two concurrent changes of one cell get one
// timestamp, and the greater value stays (Cassandra's rule for a tie).
func (st *Store) UpdateSettings(ctx context.Context, userID, convID int64, s ConversationSettings) error {
	sets, args := []string{}, []any{}
	if s.MutedUntil != nil {
		sets, args = append(sets, "muted_until = ?"), append(args, *s.MutedUntil)
	}
	if s.Pinned != nil {
		sets, args = append(sets, "pinned = ?"), append(args, *s.Pinned)
	}
	if s.Archived != nil {
		sets, args = append(sets, "archived = ?"), append(args, *s.Archived)
	}
	if s.Previews != nil {
		sets, args = append(sets, "hide_previews = ?"), append(args, !*s.Previews)
	}
	if len(sets) == 0 {
		return nil
	}
	var kind *string
	var stamps [5]*int64
	err := st.rawQuery(ctx, cqlUserConvStamp, userID, convID).Scan(&kind, &stamps[0], &stamps[1], &stamps[2], &stamps[3], &stamps[4])
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return translate("update settings", err)
	}
	if err != nil || kind == nil {
		return Errorf(CodeNotFound, "conversation not in your list")
	}
	newest := newestWrite(stamps[:]...)
	stmt := "UPDATE conversations_by_user USING TIMESTAMP ? SET " + strings.Join(sets, ", ") + " WHERE user_id = ? AND conv_id = ?"
	args = append(append([]any{newest + 1}, args...), userID, convID)
	if err := st.rawQuery(ctx, stmt, args...).Exec(); err != nil {
		return translate("update settings", err)
	}
	// A removal applied meanwhile shadowed the write: say so rather than
	// report a change of a conversation that left the list.
	_, err = st.GetUserConversation(ctx, userID, convID)
	return err
}

// GetUserConversation returns one row of a user's list or CodeNotFound.
func (st *Store) GetUserConversation(ctx context.Context, userID, convID int64) (UserConversation, error) {
	var uc UserConversation
	err := st.query(ctx, `SELECT user_id, conv_id, kind, joined_at, muted_until, pinned, archived, hide_previews, peer_id FROM conversations_by_user WHERE user_id = ? AND conv_id = ?`,
		userID, convID).GetRelease(&uc)
	return uc, translate("get user conversation", err)
}
