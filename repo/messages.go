package repo

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/snowflake"
)

const (
	cqlClaimSend     = `INSERT INTO send_dedupe (sender_id, client_msg_id, conv_id, msg_id) VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL ?`
	cqlInsertMessage = `INSERT INTO messages_by_conversation (conv_id, bucket, msg_id, sender_id, client_msg_id, body, media, reply_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// A deterministic id's row is written at a fixed time in the past (PutMessageAt).
	cqlInsertMessageAt = cqlInsertMessage + ` USING TIMESTAMP ?`
	cqlMsgColumns      = `SELECT conv_id, msg_id, sender_id, client_msg_id, body, media, reply_to, edited_at, recalled FROM messages_by_conversation `
	cqlGetMessage      = cqlMsgColumns + `WHERE conv_id = ? AND bucket = ? AND msg_id = ?`
	cqlPageBefore      = cqlMsgColumns + `WHERE conv_id = ? AND bucket = ? AND msg_id < ? LIMIT ?`
	cqlPageAfter       = cqlMsgColumns + `WHERE conv_id = ? AND bucket = ? AND msg_id > ? ORDER BY msg_id ASC LIMIT ?`
)

// SendClaim is the outcome of claiming a (sender, client_msg_id) pair.
type SendClaim struct {
	Won    bool  // this call claimed it: the message is new
	ConvID int64 // the conversation the pair belongs to
	MsgID  int64 // the message id the pair maps to
}

// ClaimSend makes a send idempotent: the first claim of (sender, clientMsgID)
// binds it to msgID; every later claim, concurrent ones included, gets the
// first one's ids back with Won false.
func (st *Store) ClaimSend(ctx context.Context, senderID int64, clientMsgID string, convID, msgID int64) (SendClaim, error) {
	row := map[string]any{}
	applied, err := st.lwt(ctx, withinDC, cqlClaimSend, senderID, clientMsgID, convID, msgID, ttlSeconds(st.retention.Dedupe)).
		MapScanCAS(row)
	if err != nil {
		return SendClaim{}, translate("claim send", err)
	}
	if applied {
		return SendClaim{Won: true, ConvID: convID, MsgID: msgID}, nil
	}
	return SendClaim{ConvID: casInt64(row, "conv_id"), MsgID: casInt64(row, "msg_id")}, nil
}

func (st *Store) msgBucket(id int64) int32 {
	return snowflake.Bucket(id, st.layout.MessageBucket.Milliseconds())
}

// PutMessage writes a message row. Writing the same message again is harmless
// (same key, same cells), which is what makes retried sends safe. Columns that
// are unset (edited_at, recalled) are not written, so no tombstones are made.
func (st *Store) PutMessage(ctx context.Context, m Message) error {
	err := st.query(ctx, cqlInsertMessage, m.ConvID, st.msgBucket(m.ID), m.ID, m.SenderID, m.ClientMsgID,
		m.Body, m.Media, m.ReplyTo).ExecRelease()
	return translate("insert message", err)
}

// PutMessageAt is PutMessage with every cell written at writeMicros (µs since
// the Unix epoch), so attempts of one send write identical cells whatever
// their order. The caller keeps writeMicros in the past: an edit or recall,
// written at the coordinator's now, then wins over any later attempt.
func (st *Store) PutMessageAt(ctx context.Context, m Message, writeMicros int64) error {
	err := st.query(ctx, cqlInsertMessageAt, m.ConvID, st.msgBucket(m.ID), m.ID, m.SenderID, m.ClientMsgID,
		m.Body, m.Media, m.ReplyTo, writeMicros).ExecRelease()
	return translate("insert message", err)
}

// GetMessage returns one message or CodeNotFound.
func (st *Store) GetMessage(ctx context.Context, convID, msgID int64) (Message, error) {
	var m Message
	if err := st.query(ctx, cqlGetMessage, convID, st.msgBucket(msgID), msgID).GetRelease(&m); err != nil {
		return Message{}, translate("get message", err)
	}
	m.CreatedAt = snowflake.Time(m.ID)
	withdraw(&m)
	return m, nil
}

// HistoryPage is one page of a conversation's timeline.
type HistoryPage struct {
	Messages []Message
	// More is true when older (or, paging forward, newer) messages may exist past Messages.
	More bool
	// Next is where the next page starts (exclusive): the last id looked at.
	Next int64
}

// MaxEmptyBuckets bounds how many empty time buckets one history request walks
// before it answers with what it has and a cursor to go on from.
const MaxEmptyBuckets = 64

// NewestPossibleID is the largest id any writer can have made by now (its
// clock at most ClockSkew ahead). Client positions past it are clamped to it:
// ids near the int64 maximum overflow bucket arithmetic, and a position in
// the far future would walk only empty buckets.
func NewestPossibleID(now time.Time) int64 {
	return snowflake.MinIDAt(now.Add(ClockSkew)) | (1<<22 - 1)
}

// HistoryBefore returns up to limit messages with id < before, newest first,
// walking back through time buckets no further than the conversation's creation.
// Callers clamp before to NewestPossibleID(now)+1.
func (st *Store) HistoryBefore(ctx context.Context, convID, before int64, limit int) (HistoryPage, error) {
	bucketMs := st.layout.MessageBucket.Milliseconds()
	// No message is older than its conversation, but for a writer whose
	// clock ran behind its maker's (HistoryAfter starts there too).
	floor := snowflake.Bucket(max(convID-ClockSkew.Milliseconds()<<22, 0), bucketMs)
	b := snowflake.Bucket(before-1, bucketMs)
	page := HistoryPage{Next: before}
	empty := 0
	jumped := false
	for ; b >= floor && len(page.Messages) < limit; b-- {
		var got []Message
		err := st.query(ctx, cqlPageBefore, convID, b, before, limit-len(page.Messages)).SelectRelease(&got)
		if err != nil {
			return HistoryPage{}, translate("history before", err)
		}
		page.Messages = append(page.Messages, got...)
		if len(got) == 0 && len(page.Messages) == 0 && !jumped {
			// Starting in empty time (a quiet conversation read from now): go
			// straight to the newest message's bucket, one point read, instead of
			// walking empty buckets. 0 means unknown (written since v0006 only).
			jumped = true
			newest, err := st.NewestMessageID(ctx, convID)
			if err != nil {
				return HistoryPage{}, err
			}
			if nb := snowflake.Bucket(newest, bucketMs); newest > 0 && newest < before && nb < b {
				b = nb + 1 // the loop's b-- reads bucket nb next
				continue
			}
		}
		if len(got) == 0 {
			if empty++; empty >= MaxEmptyBuckets {
				// Answer now; the client continues from the bucket start.
				page.Next = snowflake.BucketStart(b, bucketMs)
				page.More = b > floor
				return finishPage(page), nil
			}
		}
	}
	if len(page.Messages) > 0 {
		page.Next = page.Messages[len(page.Messages)-1].ID
	}
	page.More = len(page.Messages) == limit
	return finishPage(page), nil
}

// HistoryAfter returns up to limit messages with id > after, oldest first,
// walking forward through time buckets no further than now.
func (st *Store) HistoryAfter(ctx context.Context, convID, after int64, limit int, now time.Time) (HistoryPage, error) {
	bucketMs := st.layout.MessageBucket.Milliseconds()
	// Nothing is older than the conversation but for a writer whose clock
	// ran behind its maker's (HistoryBefore reads those too).
	if floor := max(convID-ClockSkew.Milliseconds()<<22, 0); after < floor {
		after = floor
	}
	ceiling := NewestPossibleID(now)
	if after >= ceiling {
		// Nothing can be newer yet; after+1 and its bucket would overflow near the int64 maximum.
		return HistoryPage{Next: after}, nil
	}
	last := snowflake.Bucket(ceiling, bucketMs)
	b := snowflake.Bucket(after+1, bucketMs)
	page := HistoryPage{Next: after}
	empty := 0
	for ; b <= last && len(page.Messages) < limit; b++ {
		var got []Message
		err := st.query(ctx, cqlPageAfter, convID, b, after, limit-len(page.Messages)).SelectRelease(&got)
		if err != nil {
			return HistoryPage{}, translate("history after", err)
		}
		page.Messages = append(page.Messages, got...)
		if len(got) == 0 {
			if empty++; empty >= MaxEmptyBuckets && b < last {
				page.Next = snowflake.BucketStart(b+1, bucketMs) - 1
				page.More = true
				return finishPage(page), nil
			}
		}
	}
	if len(page.Messages) > 0 {
		page.Next = page.Messages[len(page.Messages)-1].ID
	}
	page.More = len(page.Messages) == limit
	return finishPage(page), nil
}

func finishPage(p HistoryPage) HistoryPage {
	for i := range p.Messages {
		p.Messages[i].CreatedAt = snowflake.Time(p.Messages[i].ID)
		withdraw(&p.Messages[i])
	}
	return p
}

// Edit and recall are lightweight transactions on the message's partition, so
// Paxos orders them: a recall commits with a timestamp above every edit
// committed before it, and an edit that comes after a recall finds the flag
// and does nothing. However messages arrive and whatever the nodes' clocks say,
// no edit's body outlives a recall. The flag is the guarantee for every other
// write too (a retried send's row, say): recalled is only ever set, and every
// read blanks the content of a recalled message (withdraw).
const (
	cqlEditMessage   = `UPDATE messages_by_conversation SET body = ?, edited_at = ? WHERE conv_id = ? AND bucket = ? AND msg_id = ? IF recalled = null AND sender_id = ?`
	cqlRecallMessage = `UPDATE messages_by_conversation SET body = '', media = '[]', recalled = true, edited_at = ? WHERE conv_id = ? AND bucket = ? AND msg_id = ? IF EXISTS`
)

// EditMessage stores a new body in place, unless the message was recalled
// (CodeConflict) or is not the sender's (CodeNotFound).
func (st *Store) EditMessage(ctx context.Context, m Message) error {
	current := map[string]any{}
	applied, err := st.lwt(ctx, acrossDCs, cqlEditMessage, m.Body, m.EditedAt, m.ConvID, st.msgBucket(m.ID), m.ID, m.SenderID).
		MapScanCAS(current)
	if err != nil {
		return translate("edit message", err)
	}
	if !applied {
		if recalled, _ := current["recalled"].(bool); recalled {
			return Errorf(CodeConflict, "the message was recalled")
		}
		return Errorf(CodeNotFound, "message not found")
	}
	return nil
}

// RecallMessage flags a message recalled and drops its content, in place.
func (st *Store) RecallMessage(ctx context.Context, m Message) error {
	applied, err := st.lwt(ctx, acrossDCs, cqlRecallMessage, m.EditedAt, m.ConvID, st.msgBucket(m.ID), m.ID).
		MapScanCAS(map[string]any{})
	if err != nil {
		return translate("recall message", err)
	}
	if !applied {
		return Errorf(CodeNotFound, "message not found")
	}
	return nil
}

// withdraw blanks a recalled message's content as read, whatever cells a
// write racing the recall may have left.
func withdraw(m *Message) {
	if m.Recalled {
		m.Body, m.Media = "", "[]"
	}
}
