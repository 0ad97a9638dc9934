package repo

import (
	"context"
	"slices"
	"sort"
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
func (st *Store) Sync(ctx context.Context, userID, cursor int64, limit int, safe int64, now time.Time, render func(Message) string) (SyncPage, error) {
	var page SyncPage
	cursor = min(cursor, NewestPossibleID(now)) // a cursor past now would never move (and overflows near the int64 maximum)
	if oldest := snowflake.MinIDAt(now.Add(-st.retention.Inbox)); cursor < oldest {
		page.Reset = cursor != 0
		cursor = oldest
	}
	// Read one more than asked, to know whether events below safe remain.
	want := limit + 1
	got, scanned, err := st.readInbox(ctx, userID, cursor, want, now)
	if err != nil {
		return SyncPage{}, err
	}
	// Large groups do not write inbox rows: merge their timelines in.
	pulls, err := st.PullConversations(ctx, userID)
	if err != nil {
		return SyncPage{}, err
	}
	for _, conv := range pulls {
		evs, upTo, err := st.readTimeline(ctx, conv, cursor, want, now, render)
		if err != nil {
			return SyncPage{}, err
		}
		got = append(got, evs...)
		scanned = min(scanned, upTo)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	// A message sent before its group switched to pull is both an inbox row and
	// a timeline row, under the same id: keep one.
	got = slices.CompactFunc(got, func(a, b Event) bool { return a.ID == b.ID })
	// Only events up to the point every stream was read completely are certain
	// to have no unseen smaller neighbours.
	n := sort.Search(len(got), func(i int) bool { return got[i].ID > scanned })
	got = got[:n]
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
	page.Cursor = max(cursor, min(safe, scanned))
	page.HasMore = scanned < safe
	return page, nil
}

const noLimit = int64(1<<63 - 1)

// readInbox reads up to want inbox events after cursor; scanned is the id up to
// which the inbox was read completely.
func (st *Store) readInbox(ctx context.Context, userID, cursor int64, want int, now time.Time) ([]Event, int64, error) {
	bucketMs := st.layout.InboxBucket.Milliseconds()
	last := snowflake.Bucket(snowflake.MinIDAt(now.Add(ClockSkew)), bucketMs)
	first := snowflake.Bucket(cursor+1, bucketMs)
	var got []Event
	b := first
	for ; b <= last && len(got) < want && b < first+MaxSyncBuckets; b++ {
		var evs []Event
		if err := st.query(ctx, cqlReadInbox, userID, b, cursor, want-len(got)).SelectRelease(&evs); err != nil {
			return nil, 0, translate("read inbox", err)
		}
		got = append(got, evs...)
	}
	switch {
	case len(got) >= want:
		return got, got[len(got)-1].ID, nil
	case b <= last:
		return got, snowflake.BucketStart(b, bucketMs) - 1, nil // stopped at the bucket cap
	}
	return got, noLimit, nil
}

// readTimeline reads up to want messages of a pull-mode group after cursor, as
// message.new events (event id = message id).
func (st *Store) readTimeline(ctx context.Context, convID, cursor int64, want int, now time.Time, render func(Message) string) ([]Event, int64, error) {
	page, err := st.HistoryAfter(ctx, convID, cursor, want, now)
	if err != nil {
		return nil, 0, err
	}
	evs := make([]Event, len(page.Messages))
	for i, m := range page.Messages {
		evs[i] = Event{ID: m.ID, Kind: EventMessageNew, ConvID: convID, MsgID: m.ID, Payload: render(m)}
	}
	if page.More {
		return evs, page.Next, nil
	}
	return evs, noLimit, nil
}

// RewriteEvent overwrites an existing inbox event (same id) for the users, with
// the given remaining TTL, so a later sync returns the new payload.
func (st *Store) RewriteEvent(ctx context.Context, userIDs []int64, ev Event, ttl time.Duration) error {
	bucket := snowflake.Bucket(ev.ID, st.layout.InboxBucket.Milliseconds())
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for _, uid := range userIDs {
		g.Go(func() error {
			return st.query(gctx, cqlInsertEvent, uid, bucket, ev.ID, ev.Kind, ev.ConvID, ev.MsgID, ev.Payload, ttlSeconds(ttl)).ExecRelease()
		})
	}
	return translate("rewrite inbox event", g.Wait())
}
