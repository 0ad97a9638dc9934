package repo

import (
	"context"
	"strings"
	"time"

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
		iter := st.raw.Query(cqlUnreadSenders, convID, b, readUpTo, maxUnreadRows-read).WithContext(ctx).Iter()
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
}

// UpdateSettings writes a user's own settings of one conversation.
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
	if len(sets) == 0 {
		return nil
	}
	args = append(args, userID, convID)
	stmt := "UPDATE conversations_by_user SET " + strings.Join(sets, ", ") + " WHERE user_id = ? AND conv_id = ? IF EXISTS"
	applied, err := st.lwtx(ctx, withinDC, stmt, args...).ExecCASRelease()
	if err != nil {
		return translate("update settings", err)
	}
	if !applied {
		return Errorf(CodeNotFound, "conversation not in your list")
	}
	return nil
}

// GetUserConversation returns one row of a user's list or CodeNotFound.
func (st *Store) GetUserConversation(ctx context.Context, userID, convID int64) (UserConversation, error) {
	var uc UserConversation
	err := st.query(ctx, `SELECT user_id, conv_id, kind, joined_at, muted_until, pinned, archived, peer_id FROM conversations_by_user WHERE user_id = ? AND conv_id = ?`,
		userID, convID).GetRelease(&uc)
	return uc, translate("get user conversation", err)
}
