package repo

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/snowflake"
)

const (
	cqlInsertEvent = `INSERT INTO inbox_by_user (user_id, bucket, event_id, kind, conv_id, msg_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?`
	// A reference row (message.new): no payload cell at all, neither an empty
	// string nor a null (a tombstone); sync renders it from the message row.
	cqlInsertEventRef = `INSERT INTO inbox_by_user (user_id, bucket, event_id, kind, conv_id, msg_id) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?`
	cqlReadInbox      = `SELECT event_id, kind, conv_id, msg_id, payload FROM inbox_by_user WHERE user_id = ? AND bucket = ? AND event_id > ? LIMIT ?`
)

// fanoutParallelism bounds concurrent inbox writes of one event, so a large
// group does not open thousands of in-flight queries at once.
const fanoutParallelism = 32

// AppendEvent writes ev into the inbox of every user in userIDs. It returns
// only when every row is written (or the first error). An event without a
// payload is a reference (ev.IsRef): its row names the message, and sync
// reads the content from the message row.
func (st *Store) AppendEvent(ctx context.Context, userIDs []int64, ev Event) error {
	bucket := snowflake.Bucket(ev.ID, st.layout.InboxBucket.Milliseconds())
	ttl := ttlSeconds(st.retention.Inbox)
	if ev.IsRef() && len(userIDs) <= 2 {
		// A direct message's two reference rows: one unlogged batch, one
		// statement instead of two (either row may land alone, as two
		// statements' may; the send is acknowledged only if both did).
		b := st.raw.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
		for _, uid := range userIDs {
			b.Query(cqlInsertEventRef, uid, bucket, ev.ID, ev.Kind, ev.ConvID, ev.MsgID, ttl)
		}
		return translate("append inbox event", st.raw.ExecuteBatch(b))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for _, uid := range userIDs {
		g.Go(func() error {
			if ev.IsRef() {
				return st.query(gctx, cqlInsertEventRef, uid, bucket, ev.ID, ev.Kind, ev.ConvID, ev.MsgID, ttl).ExecRelease()
			}
			return st.query(gctx, cqlInsertEvent, uid, bucket, ev.ID, ev.Kind, ev.ConvID, ev.MsgID, ev.Payload, ttl).ExecRelease()
		})
	}
	return translate("append inbox event", g.Wait())
}

// SyncPage is the answer to one sync call.
type SyncPage struct {
	Events  []Event
	Cursor  SyncCursor // where the next call starts
	HasMore bool       // more events below the safe point are waiting: call again now
	Reset   bool       // the cursor was older than inbox retention: events were lost to TTL
}

// SyncCursor is where a device's sync stands. At: every event up to it has
// been returned. A user in more pull-mode groups than one call reads
// (MaxPullPerSync) is answered in rounds of several calls, each returning the
// events in (At, Upper] of one page of streams: the inbox and the first
// groups, then the groups after PullAfter, MaxPullPerSync at a time; Within is
// how far the current page has been returned. Upper is 0 between rounds.
type SyncCursor struct {
	At, PullAfter, Within, Upper int64
}

// MaxSyncBuckets bounds how many inbox partitions one sync call reads; a
// cursor far behind moves forward over empty time in steps of this many.
const MaxSyncBuckets = 64

// Sync returns a user's events after cursor.At, oldest first, at most limit.
//
// Events are read up to now (so a fresh event arrives without delay), but the
// returned cursor never passes safe: the id below which every writer has
// finished (see docs/sync.md). Events above safe come again on the next call;
// clients drop repeats by event id. That is what keeps a late-committing
// writer with a smaller id from being skipped.
func (st *Store) Sync(ctx context.Context, userID int64, cursor SyncCursor, limit int, safe int64, now time.Time, render func(Message) string) (SyncPage, error) {
	if newest := NewestPossibleID(now); cursor.At > newest || cursor.Upper > newest {
		// A position past now would never move (and overflows near the int64 maximum).
		cursor = SyncCursor{At: min(cursor.At, newest)}
	}
	reset := false
	if oldest := snowflake.MinIDAt(now.Add(-st.retention.Inbox)); cursor.At < oldest {
		reset = cursor.At != 0
		cursor = SyncCursor{At: oldest}
	}
	pulls, err := st.PullConversations(ctx, userID, cursor.PullAfter, MaxPullPerSync+1)
	if err != nil {
		return SyncPage{}, err
	}
	last := len(pulls) <= MaxPullPerSync
	pulls = pulls[:min(len(pulls), MaxPullPerSync)]
	var page SyncPage
	switch {
	case cursor.Upper == 0 && last:
		page, err = st.syncAll(ctx, userID, cursor.At, pulls, limit, safe, now, render)
	case cursor.Upper == 0:
		// A round of several calls ends at the safe point of its start: a group
		// joined meanwhile has nothing at or below it sent after the join.
		cursor.Upper = max(cursor.At, safe)
		fallthrough
	default:
		page, err = st.syncPage(ctx, userID, cursor, pulls, last, limit, now, render)
	}
	page.Reset = reset
	return page, err
}

// syncAll answers a user in at most MaxPullPerSync pull groups: every stream
// is read in one call.
func (st *Store) syncAll(ctx context.Context, userID, from int64, pulls []int64, limit int, safe int64, now time.Time, render func(Message) string) (SyncPage, error) {
	// Read one more than asked, to know whether events below safe remain.
	want := limit + 1
	got, scanned, err := st.readInbox(ctx, userID, from, want, now)
	if err != nil {
		return SyncPage{}, err
	}
	// Large groups do not write inbox rows: merge their timelines in.
	evs, upTo, err := st.readTimelines(ctx, pulls, from, want, now, render)
	if err != nil {
		return SyncPage{}, err
	}
	got, scanned = mergeEvents(append(got, evs...), min(scanned, upTo))
	var page SyncPage
	page.Events = got
	if len(got) > limit {
		page.Events = got[:limit]
		if got[limit].ID <= safe {
			// More committed events wait beyond this page: resume after the last one returned.
			page.HasMore = true
			page.Cursor = SyncCursor{At: page.Events[limit-1].ID}
			return page, nil
		}
	}
	// Every event in (from, scanned] is in this page, so the cursor may move
	// up to scanned, but never past safe.
	page.Cursor = SyncCursor{At: max(from, min(safe, scanned))}
	page.HasMore = scanned < safe
	return page, nil
}

// syncPage answers one call of a round: the events of one page of streams (the
// inbox only on the first page) in (max(At, Within), Upper], in id order.
func (st *Store) syncPage(ctx context.Context, userID int64, cur SyncCursor, pulls []int64, last bool, limit int, now time.Time, render func(Message) string) (SyncPage, error) {
	from, want := max(cur.At, cur.Within), limit+1
	var got []Event
	scanned := cur.Upper
	if cur.PullAfter == 0 {
		evs, upTo, err := st.readInbox(ctx, userID, from, want, now)
		if err != nil {
			return SyncPage{}, err
		}
		got, scanned = evs, min(scanned, upTo)
	}
	evs, upTo, err := st.readTimelines(ctx, pulls, from, want, now, render)
	if err != nil {
		return SyncPage{}, err
	}
	got, scanned = mergeEvents(append(got, evs...), min(scanned, upTo))
	if len(got) > limit {
		got, scanned = got[:limit], got[limit-1].ID
	}
	page := SyncPage{Events: got, HasMore: true}
	switch {
	case scanned < cur.Upper: // this page goes on
		page.Cursor = SyncCursor{At: cur.At, PullAfter: cur.PullAfter, Within: scanned, Upper: cur.Upper}
	case !last && len(pulls) > 0:
		page.Cursor = SyncCursor{At: cur.At, PullAfter: pulls[len(pulls)-1], Upper: cur.Upper}
	default: // the round is complete up to Upper
		page.Cursor, page.HasMore = SyncCursor{At: cur.Upper}, false
	}
	return page, nil
}

// mergeEvents sorts events, drops repeats, and keeps those up to scanned: only
// there is every stream read completely, so no unseen smaller neighbour waits.
// (A message sent before its group switched to pull is both an inbox row and a
// timeline row, under the same id.)
func mergeEvents(got []Event, scanned int64) ([]Event, int64) {
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	got = slices.CompactFunc(got, func(a, b Event) bool { return a.ID == b.ID })
	return got[:sort.Search(len(got), func(i int) bool { return got[i].ID > scanned })], scanned
}

// readTimelines reads the pull groups' messages after cursor, want per group;
// scanned is the id up to which every one of them was read completely. A group
// whose newest message is not after cursor costs one point read: its
// last_msg_id is written with each message, within the send deadline, so below
// the safe point it is never behind the timeline.
func (st *Store) readTimelines(ctx context.Context, convs []int64, cursor int64, want int, now time.Time, render func(Message) string) ([]Event, int64, error) {
	evs := make([][]Event, len(convs))
	upTo := make([]int64, len(convs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanoutParallelism)
	for i, conv := range convs {
		g.Go(func() error {
			upTo[i] = noLimit
			newest, err := st.NewestMessageID(gctx, conv)
			if err != nil || newest <= cursor {
				return err
			}
			evs[i], upTo[i], err = st.readTimeline(gctx, conv, cursor, want, now, render)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	scanned := noLimit
	var out []Event
	for i := range convs {
		out = append(out, evs[i]...)
		scanned = min(scanned, upTo[i])
	}
	return out, scanned, nil
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
