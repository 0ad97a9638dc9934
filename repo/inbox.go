package repo

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/snowflake"
)

const (
	cqlInsertEvent = `INSERT INTO inbox_by_user (user_id, bucket, event_id, kind, conv_id, msg_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?`
	cqlReadInbox   = `SELECT event_id, kind, conv_id, msg_id, payload FROM inbox_by_user WHERE user_id = ? AND bucket = ? AND event_id > ? LIMIT ?`
)

// fanoutParallelism bounds concurrent inbox writes of one event, so a large
// group does not open thousands of in-flight queries at once.
const fanoutParallelism = 32

// AppendEvent writes ev into the inbox of every user in userIDs. It returns
// only when every row is written (or the first error).
func (st *Store) AppendEvent(ctx context.Context, userIDs []int64, ev Event) error {
	bucket := snowflake.Bucket(ev.ID, st.layout.InboxBucket.Milliseconds())
	ttl := ttlSeconds(st.retention.Inbox)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for _, uid := range userIDs {
		g.Go(func() error {
			return st.query(gctx, cqlInsertEvent, uid, bucket, ev.ID, ev.Kind, ev.ConvID, ev.MsgID, ev.Payload, ttl).ExecRelease()
		})
	}
	return translate("append inbox event", g.Wait())
}

// SyncPage is the answer to one sync call.
type SyncPage struct {
	Events  []Event
	Cursor  int64 // where the next call starts (exclusive)
	HasMore bool  // more events below the safe point are waiting: call again now
	Reset   bool  // the cursor was older than inbox retention: events were lost to TTL
}

// MaxSyncBuckets bounds how many inbox partitions one sync call reads; a
// cursor far behind moves forward over empty time in steps of this many.
const MaxSyncBuckets = 64

// Sync returns a user's inbox events after cursor, oldest first, at most limit.
//
// Events are read up to now (so a fresh event arrives without delay), but the
// returned cursor never passes safe: the id below which every writer has
// finished (see docs/sync.md). Events above safe come again on the next call;
// clients drop repeats by event id. That is what keeps a late-committing
// writer with a smaller id from being skipped.
func (st *Store) Sync(ctx context.Context, userID, cursor int64, limit int, safe int64, now time.Time) (SyncPage, error) {
	bucketMs := st.layout.InboxBucket.Milliseconds()
	var page SyncPage
	if oldest := snowflake.MinIDAt(now.Add(-st.retention.Inbox)); cursor < oldest {
		page.Reset = cursor != 0
		cursor = oldest
	}
	last := snowflake.Bucket(snowflake.MinIDAt(now.Add(ClockSkew)), bucketMs)
	// Read one more than asked, to know whether events below safe remain.
	want := limit + 1
	var got []Event
	first := snowflake.Bucket(cursor+1, bucketMs)
	b := first
	for ; b <= last && len(got) < want && b < first+MaxSyncBuckets; b++ {
		var evs []Event
		err := st.query(ctx, cqlReadInbox, userID, b, cursor, want-len(got)).SelectRelease(&evs)
		if err != nil {
			return SyncPage{}, translate("read inbox", err)
		}
		got = append(got, evs...)
	}
	page.Events = got
	if len(got) > limit {
		page.Events = got[:limit]
		if got[limit].ID <= safe {
			// More committed events wait beyond this page: resume after the last one returned.
			page.HasMore = true
			page.Cursor = page.Events[limit-1].ID
			return page, nil
		}
	}
	// Every event in (cursor, scanned] is in this page, so the cursor may move
	// up to scanned, but never past safe.
	scanned := int64(1<<63 - 1)
	if b <= last && len(got) <= limit {
		scanned = snowflake.BucketStart(b, bucketMs) - 1 // stopped at the bucket cap
	}
	page.Cursor = max(cursor, min(safe, scanned))
	page.HasMore = scanned < safe
	return page, nil
}
