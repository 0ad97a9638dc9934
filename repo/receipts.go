package repo

import (
	"context"
	"strings"
	"time"
)

const (
	cqlSetWatermark  = `UPDATE receipt_watermarks USING TIMESTAMP ? SET %s = ? WHERE conv_id = ? AND user_id = ?`
	cqlGetWatermark  = `SELECT user_id, delivered_up_to, read_up_to FROM receipt_watermarks WHERE conv_id = ? AND user_id = ?`
	cqlListMarks     = `SELECT user_id, delivered_up_to, read_up_to FROM receipt_watermarks WHERE conv_id = ? LIMIT ?`
	cqlDropWatermark = `DELETE FROM receipt_watermarks USING TIMESTAMP ? WHERE conv_id = ? AND user_id = ?`
	cqlNewestMessage = `SELECT last_msg_id FROM conversations WHERE conv_id = ?`
)

// Watermark names a receipt watermark column.
type Watermark string

const (
	Delivered Watermark = "delivered_up_to"
	Read      Watermark = "read_up_to"
)

// Marks are one member's receipt watermarks (message ids; 0: none).
type Marks struct {
	UserID    int64 `db:"user_id"`
	Delivered int64 `db:"delivered_up_to"`
	Read      int64 `db:"read_up_to"`
}

// watermarkTombstoneLead puts a removal's watermark tombstone above every
// watermark cell a receipt in flight can write: up_to is held to an existing
// message id, which another node may have made up to ClockSkew ahead of real
// time, while this node's clock may be ClockSkew behind it.
const watermarkTombstoneLead = 2*ClockSkew + time.Second

// SetWatermark moves a member's delivered or read watermark forward to upTo.
// It never moves back: the write timestamp follows the message id, so an older
// watermark written later loses to a newer one written earlier. The caller
// holds upTo to the conversation's newest message (NewestMessageID).
func (st *Store) SetWatermark(ctx context.Context, convID, userID int64, w Watermark, upTo int64) error {
	stmt := strings.Replace(cqlSetWatermark, "%s", string(w), 1)
	return translate("set watermark", st.query(ctx, stmt, idTimestamp(upTo), upTo, convID, userID).ExecRelease())
}

// GetWatermarks returns one member's watermarks (zero when none are stored).
func (st *Store) GetWatermarks(ctx context.Context, convID, userID int64) (Marks, error) {
	m := Marks{UserID: userID}
	err := st.query(ctx, cqlGetWatermark, convID, userID).GetRelease(&m)
	if IsCode(translate("", err), CodeNotFound) {
		return Marks{UserID: userID}, nil
	}
	return m, translate("get watermarks", err)
}

// ListWatermarks returns the stored watermarks of a conversation's members by user id.
func (st *Store) ListWatermarks(ctx context.Context, convID int64) (map[int64]Marks, error) {
	var ms []Marks
	if err := st.query(ctx, cqlListMarks, convID, MaxMembersRead).SelectRelease(&ms); err != nil {
		return nil, translate("list watermarks", err)
	}
	out := make(map[int64]Marks, len(ms))
	for _, m := range ms {
		out[m.UserID] = m
	}
	return out, nil
}

// dropWatermarks deletes a member's watermarks above any cell a receipt racing
// the removal can write (a re-joining member's receipts for messages of the
// next few seconds are lost to it: they are soft state, the next one repairs).
func (st *Store) dropWatermarks(ctx context.Context, convID, userID int64) error {
	ts := time.Now().Add(watermarkTombstoneLead).UnixMicro()
	return st.query(ctx, cqlDropWatermark, ts, convID, userID).ExecRelease()
}

// NewestMessageID returns the id of a conversation's newest message (0: none).
func (st *Store) NewestMessageID(ctx context.Context, convID int64) (int64, error) {
	var id int64
	err := st.rawQuery(ctx, cqlNewestMessage, convID).Scan(&id)
	if IsCode(translate("", err), CodeNotFound) {
		return 0, nil
	}
	return id, translate("read newest message", err)
}
