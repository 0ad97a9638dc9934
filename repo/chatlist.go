package repo

import (
	"context"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/snowflake"
)

const (
	cqlTouchConv   = `UPDATE conversations USING TIMESTAMP ? SET last_msg_id = ? WHERE conv_id = ?`
	cqlLastMsg     = `SELECT last_msg_id FROM conversations WHERE conv_id = ?`
	cqlCountUnread = `SELECT COUNT(*) FROM messages_by_conversation WHERE conv_id = ? AND bucket = ? AND msg_id > ? LIMIT ?`
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

// LastMessageIDs returns the newest message id of each conversation (0: none).
func (st *Store) LastMessageIDs(ctx context.Context, convIDs []int64) (map[int64]int64, error) {
	ids := make([]int64, len(convIDs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for i, c := range convIDs {
		g.Go(func() error {
			err := st.raw.Query(cqlLastMsg, c).WithContext(gctx).Scan(&ids[i])
			if IsCode(translate("", err), CodeNotFound) {
				return nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, translate("read last messages", err)
	}
	out := make(map[int64]int64, len(convIDs))
	for i, c := range convIDs {
		out[c] = ids[i]
	}
	return out, nil
}

// UnreadCap bounds an unread count: past it the list says "at least UnreadCap".
const UnreadCap = 100

// CountUnread counts messages after readUpTo, at most UnreadCap, reading back
// from the newest message no further than the buckets that can hold them.
func (st *Store) CountUnread(ctx context.Context, convID, readUpTo, lastMsgID int64) (int, error) {
	if lastMsgID <= readUpTo {
		return 0, nil
	}
	bucketMs := st.layout.MessageBucket.Milliseconds()
	floor := snowflake.Bucket(max(readUpTo, convID), bucketMs)
	total := 0
	for b := snowflake.Bucket(lastMsgID, bucketMs); b >= floor && total < UnreadCap && b > snowflake.Bucket(lastMsgID, bucketMs)-MaxEmptyBuckets; b-- {
		var n int
		if err := st.raw.Query(cqlCountUnread, convID, b, readUpTo, UnreadCap-total).WithContext(ctx).Scan(&n); err != nil {
			return 0, translate("count unread", err)
		}
		total += n
	}
	return min(total, UnreadCap), nil
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
	applied, err := st.query(ctx, stmt, args...).ExecCASRelease()
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
