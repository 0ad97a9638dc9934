package chat

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
)

const (
	outboxPage = 500
	// outboxPages bounds one bucket's read (a shard's 2 s at 100,000 msg/s).
	outboxPages = 400
	noticeTTL   = 24 * time.Hour
	// notifiedFor is how long a message's notices are remembered against a
	// client's retry of the send (which writes a second outbox row).
	notifiedFor = 10 * time.Minute
)

// workBucket makes every notice of one bucket of the shard, then delivers
// them once each. A conversation whose notices cannot be made is put off to
// a later bucket (deferRows) instead of failing the rest. false: the outbox
// could not be read, an outcome could not be recorded, or the lease is gone;
// the bucket is worked again, and what was delivered is not again.
func (w *shardWork) workBucket(ctx context.Context, bucket int64) bool {
	rows, ok := w.readBucket(ctx, bucket)
	if !ok {
		return false
	}
	notices, made, err := w.n.bucketNotices(ctx, rows, onceSet{
		once:   func(key string) bool { return w.deliveredOnce(bucket, key) },
		forget: func(key string) { w.undeliver(bucket, key) },
	})
	if err != nil {
		w.n.log.Warn("put off notices", "shard", w.shard, "bucket", bucket, "err", err)
		return false
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.n.cfg.Parallel)
	for _, nt := range notices {
		if !w.deliveredOnce(bucket, nt.key()) {
			continue
		}
		g.Go(func() error {
			if !w.valid() {
				return errLeaseGone
			}
			if err := w.n.deliver(gctx, nt); err != nil {
				w.undeliver(bucket, nt.key())
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		w.n.log.Warn("deliver notices", "shard", w.shard, "bucket", bucket, "err", err)
		return false
	}
	now := time.Now()
	for _, id := range made {
		w.n.notified.Add(id, now)
	}
	return w.valid()
}

var errLeaseGone = fmt.Errorf("notify shard lease gone")

func (w *shardWork) readBucket(ctx context.Context, bucket int64) ([]repo.OutboxEntry, bool) {
	var rows []repo.OutboxEntry
	after := int64(0)
	for page := range outboxPages {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := w.n.app.store.ReadOutbox(rctx, bucket, w.shard, after, outboxPage)
		cancel()
		if err != nil {
			w.n.log.Warn("read outbox", "shard", w.shard, "bucket", bucket, "err", err)
			return nil, false
		}
		rows = append(rows, got...)
		if len(got) < outboxPage {
			break
		}
		after = got[len(got)-1].EventID
		if page == outboxPages-1 {
			w.n.log.Error("outbox bucket over its read bound; the rest is not notified", "shard", w.shard, "bucket", bucket, "rows", len(rows))
		}
	}
	w.n.n.queued.Add(int64(len(rows)))
	return rows, true
}

// notice is one device's coalesced notice, with the target it goes to and
// what a retry row needs to make it again.
type notice struct {
	target  repo.PushTarget
	n       notify.Notification
	row     repo.OutboxEntry // the newest message's row: conv, sender, event
	attempt int              // deliveries made before this one
	event   *OperatorEvent   // set: the operator's event, not a device's notice
}

func (nt notice) key() string { return nt.n.ID + "/" + strconv.Itoa(nt.attempt) }

// bucketNotices makes the notices of a bucket's rows: per conversation for
// the messages, per device for the retry rows, and the operator's events
// (per message, per membership change); made in parallel, with the
// reads shared by the whole bucket (bucketCache). made: the messages whose
// notices were made (remembered against a retried send's second row). A
// conversation or retry that fails is put off (deferRows); err: that failed.
func (n *Notifier) bucketNotices(ctx context.Context, rows []repo.OutboxEntry, done onceSet) (out []notice, made []int64, err error) {
	byConv := map[int64][]repo.OutboxEntry{}
	var convs []int64
	// One row's notices or operator events, made by build.
	type rowJob struct {
		r     repo.OutboxEntry
		build func(context.Context, *bucketCache, repo.OutboxEntry) ([]notice, error)
		made  []int64 // a change's id, remembered against its second row
	}
	var jobs []rowJob
	changes := map[int64]bool{} // a change's rows in this bucket: one makes its notices
	for _, r := range rows {
		switch {
		case isEventRetry(r) && r.DeviceID > 0:
			jobs = append(jobs, rowJob{r, n.retryBotEvent, nil})
			continue
		case isEventRetry(r) && r.Event == eventRetryPrefix+repo.NotifyMessage:
			jobs = append(jobs, rowJob{r, n.retryMessageEvent, nil})
			continue
		case isEventRetry(r):
			jobs = append(jobs, rowJob{r, n.retryChangeEvent, nil})
			continue
		case r.DeviceID != 0 && r.Event == repo.NotifyAdded:
			jobs = append(jobs, rowJob{r, n.addedNotices, nil})
			continue
		case r.DeviceID != 0:
			jobs = append(jobs, rowJob{r, n.retryNotice, nil})
			continue
		case r.Event == repo.NotifyAdded || r.Event == repo.NotifyRemoved:
			// A change sent twice (a repair racing its own request, or a
			// retry after an error) wrote two rows: told once per node.
			if at, ok := n.notified.Get(r.MsgID); (ok && time.Since(at) < notifiedFor) || changes[r.MsgID] {
				continue
			}
			changes[r.MsgID] = true
			jobs = append(jobs, rowJob{r, n.changeNotices, []int64{r.MsgID}})
			continue
		}
		if at, ok := n.notified.Get(r.MsgID); ok && time.Since(at) < notifiedFor {
			continue // a retried send's second row
		}
		if _, ok := byConv[r.ConvID]; !ok {
			convs = append(convs, r.ConvID)
		}
		byConv[r.ConvID] = append(byConv[r.ConvID], r)
	}
	bc := newBucketCache(n)
	var mu sync.Mutex
	var failed []repo.OutboxEntry
	var lastErr error
	keep := func(ns []notice, ids []int64, rows []repo.OutboxEntry, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed, lastErr = append(failed, rows...), err
			return
		}
		out, made = append(out, ns...), append(made, ids...)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n.cfg.Parallel)
	for _, conv := range convs {
		g.Go(func() error {
			ns, ids, err := n.convNotices(gctx, bc, conv, byConv[conv])
			keep(ns, ids, byConv[conv], err)
			return nil
		})
	}
	for _, j := range jobs {
		g.Go(func() error {
			ns, err := j.build(gctx, bc, j.r)
			keep(ns, j.made, []repo.OutboxEntry{j.r}, err)
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return nil, nil, ctx.Err() // the lease is gone: the next holder makes them
	}
	if len(failed) > 0 {
		n.log.Warn("notices not made; put off to a later bucket", "rows", len(failed), "err", lastErr)
		if err := n.deferRows(ctx, failed, lastErr, done); err != nil {
			return nil, nil, err
		}
	}
	return out, made, nil
}

// onceSet records what a bucket has done, so working it again does not do
// it twice: once reports whether key is new (and records it), forget
// undoes that for work that failed.
type onceSet struct {
	once   func(key string) bool
	forget func(key string)
}

// deferTries bounds how often a message's notices are put off because they
// could not be made; then its row is dead-lettered.
const deferTries = 10

// deferRows writes rows whose notices could not be made into a later bucket
// of their shard (after a backoff), so a conversation the store fails on
// holds back neither the others nor the cursor.
func (n *Notifier) deferRows(ctx context.Context, rows []repo.OutboxEntry, cause error, done onceSet) error {
	for _, r := range rows {
		// A bucket worked again puts off (or dead-letters) no row twice.
		key := "defer/" + strconv.FormatInt(r.EventID, 10)
		if !done.once(key) {
			continue
		}
		tries := deferTries
		if r.DeviceID != 0 {
			tries = n.cfg.Attempts
		}
		if r.Attempt+1 >= tries {
			// Kind: the operator's event alone, a bot's, or a row's notices
			// (its events with them, when the webhook is on).
			target := repo.PushTarget{UserID: r.UserID, DeviceID: r.DeviceID}
			switch {
			case isEventRetry(r) && r.DeviceID == eventRetryDevice:
				target.Kind, target.DeviceID = eventKind, 0
			case isEventRetry(r):
				target.Kind = string(notify.KindWebhook)
			}
			n.deadLetter(ctx, notice{target: target, row: r,
				n: notify.Notification{ConversationID: strconv.FormatInt(r.ConvID, 10), MessageID: strconv.FormatInt(r.MsgID, 10)}},
				fmt.Errorf("notice could not be made: %w", cause), r.Attempt+1)
			continue
		}
		id, err := n.app.newID()
		if err != nil {
			done.forget(key)
			return err
		}
		r.EventID, r.Attempt = id, r.Attempt+1
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = n.app.store.RetryOutbox(wctx, time.Now().Add(backoff(n.cfg.RetryBase, n.cfg.RetryMax, r.Attempt)), r)
		cancel()
		if err != nil {
			done.forget(key)
			return fmt.Errorf("put off notices: %w", err)
		}
	}
	return nil
}

// convNotices decides who gets what for one conversation's rows of a
// bucket: every member but the sender who was a member when the message was
// sent, per device with a push target, no live socket, and neither the
// conversation muted nor quiet hours; one notice per device for all of the
// conversation's messages in the bucket.
func (n *Notifier) convNotices(ctx context.Context, bc *bucketCache, convID int64, rows []repo.OutboxEntry) ([]notice, []int64, error) {
	conv, msgs, err := n.messages(ctx, convID, rows)
	if err != nil || len(msgs) == 0 {
		return nil, nil, err
	}
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	out := n.messageEvents(msgs, rows)
	if len(n.senders) == 0 {
		return out, ids, nil // the operator's events only: no pushes to make
	}
	members, err := n.app.store.ListMembers(ctx, convID)
	if err != nil {
		return nil, nil, err
	}
	for _, mb := range members {
		var mine []repo.Message
		for _, m := range msgs {
			if m.SenderID != mb.UserID && !mb.JoinedAt.After(m.CreatedAt) {
				mine = append(mine, m)
			}
		}
		if len(mine) == 0 {
			continue
		}
		newest := mine[len(mine)-1]
		row := rows[0]
		for _, r := range rows {
			if r.MsgID == newest.ID {
				row = r
			}
		}
		ns, err := n.userNotices(ctx, bc, n.messageSpec(bc, conv, mb.UserID, 0, mine, row, 0))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, ns...)
	}
	return out, ids, nil
}

// messages reads a bucket's messages of one conversation: not the
// recalled, nor the never written (a send that was not acknowledged).
func (n *Notifier) messages(ctx context.Context, convID int64, rows []repo.OutboxEntry) (repo.Conversation, []repo.Message, error) {
	store := n.app.store
	conv, err := store.GetConversation(ctx, convID)
	if repo.IsCode(err, repo.CodeNotFound) || (err == nil && conv.Deleted) {
		return conv, nil, nil
	}
	if err != nil {
		return conv, nil, err
	}
	var msgs []repo.Message
	for _, r := range rows {
		if slices.ContainsFunc(msgs, func(x repo.Message) bool { return x.ID == r.MsgID }) {
			continue
		}
		m, err := store.GetMessage(ctx, convID, r.MsgID)
		if repo.IsCode(err, repo.CodeNotFound) {
			continue
		}
		if err != nil {
			return conv, nil, err
		}
		if !m.Recalled {
			msgs = append(msgs, m)
		}
	}
	slices.SortFunc(msgs, func(a, b repo.Message) int { return cmp.Compare(a.ID, b.ID) })
	return conv, msgs, nil
}

// memberMessage reads a retry row's message, if it is still to be told
// (not recalled) and its user still a member; else no message.
func (n *Notifier) memberMessage(ctx context.Context, r repo.OutboxEntry) (repo.Conversation, []repo.Message, error) {
	conv, msgs, err := n.messages(ctx, r.ConvID, []repo.OutboxEntry{r})
	if err != nil || len(msgs) == 0 {
		return conv, nil, err
	}
	if _, err := n.app.store.GetMember(ctx, r.ConvID, r.UserID); repo.IsCode(err, repo.CodeNotFound) {
		return conv, nil, nil
	} else if err != nil {
		return conv, nil, err
	}
	return conv, msgs, nil
}

// retryNotice makes a failed notice again for its one device, as things
// are now: a device that came online, a conversation muted since, a member
// removed since, a message recalled since get nothing.
func (n *Notifier) retryNotice(ctx context.Context, bc *bucketCache, r repo.OutboxEntry) ([]notice, error) {
	conv, msgs, err := n.memberMessage(ctx, r)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	// A newer message has its own notice, with the same collapse key: this
	// older one must not replace it on the device. A mention is kept: the
	// newer message's notice may not pass a mute.
	if r.Event != repo.NotifyMention {
		if newest, err := n.app.store.NewestMessageID(ctx, r.ConvID); err != nil {
			return nil, err
		} else if newest > r.MsgID {
			n.n.skipped.Add(1)
			return nil, nil
		}
	}
	sp := n.messageSpec(bc, conv, r.UserID, r.DeviceID, msgs, r, r.Attempt)
	sp.count = max(r.Count, 1)
	if r.Event == repo.NotifyMention {
		sp.event, sp.mentions = repo.NotifyMention, nil
	}
	return n.userNotices(ctx, bc, sp)
}
