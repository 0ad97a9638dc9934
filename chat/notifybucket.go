package chat

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
)

const (
	outboxPage = 500
	// outboxPages bounds one bucket's read (a shard's 2 s at 100,000 msg/s).
	outboxPages  = 400
	previewRunes = 200
	noticeTTL    = 24 * time.Hour
)

// workBucket makes and delivers the notices of one bucket of the shard;
// false: not finished (the store failed or the lease is gone), worked again.
func (w *shardWork) workBucket(ctx context.Context, bucket int64) bool {
	store := w.n.app.store
	byConv := map[int64][]repo.OutboxEntry{}
	var convs []int64
	after := int64(0)
	for range outboxPages {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rows, err := store.ReadOutbox(rctx, bucket, w.shard, after, outboxPage)
		cancel()
		if err != nil {
			w.n.log.Warn("read outbox", "shard", w.shard, "bucket", bucket, "err", err)
			return false
		}
		for _, r := range rows {
			if _, ok := byConv[r.ConvID]; !ok {
				convs = append(convs, r.ConvID)
			}
			byConv[r.ConvID] = append(byConv[r.ConvID], r)
			after = r.EventID
		}
		w.n.n.queued.Add(int64(len(rows)))
		if len(rows) < outboxPage {
			break
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.n.cfg.Parallel)
	for _, conv := range convs {
		notices, err := w.n.notices(gctx, conv, byConv[conv])
		if err != nil {
			w.n.log.Warn("make notices", "conv", conv, "err", err)
			return false
		}
		for _, nt := range notices {
			g.Go(func() error {
				if !w.valid() {
					return errLeaseGone
				}
				w.n.deliver(gctx, nt)
				return nil
			})
		}
	}
	return g.Wait() == nil && w.valid()
}

var errLeaseGone = fmt.Errorf("notify shard lease gone")

// notice is one device's coalesced notice, with the target it goes to.
type notice struct {
	target repo.PushTarget
	n      notify.Notification
}

// notices decides who gets what for one conversation's rows of a bucket:
// every member but the sender who was a member when the message was sent,
// per device with a push target, no live socket, and neither the
// conversation muted nor quiet hours; one notice per device for all of the
// conversation's messages in the bucket.
func (n *Notifier) notices(ctx context.Context, convID int64, rows []repo.OutboxEntry) ([]notice, error) {
	store := n.app.store
	conv, err := store.GetConversation(ctx, convID)
	if repo.IsCode(err, repo.CodeNotFound) {
		return nil, nil
	}
	if err != nil || conv.Deleted {
		return nil, err
	}
	msgs := make([]repo.Message, 0, len(rows))
	for _, r := range rows {
		m, err := store.GetMessage(ctx, convID, r.MsgID)
		if repo.IsCode(err, repo.CodeNotFound) {
			continue // never written (a send not acknowledged)
		}
		if err != nil {
			return nil, err
		}
		if !m.Recalled && !slices.ContainsFunc(msgs, func(x repo.Message) bool { return x.ID == m.ID }) {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	members, err := store.ListMembers(ctx, convID)
	if err != nil {
		return nil, err
	}
	var out []notice
	now := n.app.now()
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
		ns, err := n.userNotices(ctx, conv, mb.UserID, mine, now)
		if err != nil {
			return nil, err
		}
		out = append(out, ns...)
	}
	return out, nil
}

func (n *Notifier) userNotices(ctx context.Context, conv repo.Conversation, userID int64, msgs []repo.Message, now time.Time) ([]notice, error) {
	store := n.app.store
	targets, err := store.PushTargets(ctx, userID)
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	uc, err := store.GetUserConversation(ctx, userID, conv.ID)
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return nil, err
	}
	if uc.MutedUntil.After(now) {
		n.n.skipped.Add(int64(len(targets)))
		return nil, nil
	}
	online, err := n.conns.OnlineDevices(ctx, []int64{userID})
	if err != nil {
		return nil, err
	}
	newest := msgs[len(msgs)-1]
	var out []notice
	for _, t := range targets {
		if _, ok := n.senders[notify.Kind(t.Kind)]; !ok {
			continue
		}
		if online[userID].Has(t.DeviceID) || InQuietHours(t, now) {
			n.n.skipped.Add(1)
			continue
		}
		live, err := store.DeviceLive(ctx, userID, t.DeviceID)
		if err != nil {
			return nil, err
		}
		if !live {
			// Every session of the device ended or expired: it is logged out.
			n.n.skipped.Add(1)
			_ = store.DeletePushTarget(ctx, userID, t.DeviceID)
			continue
		}
		title, body, err := n.text(ctx, conv, newest, len(msgs), t.Previews)
		if err != nil {
			return nil, err
		}
		badge, err := n.badge(ctx, userID)
		if err != nil {
			return nil, err
		}
		id := strconv.FormatInt(newest.ID, 10)
		out = append(out, notice{target: t, n: notify.Notification{
			ID: id + "-" + strconv.FormatInt(t.DeviceID, 10), UserID: strconv.FormatInt(userID, 10),
			DeviceID: strconv.FormatInt(t.DeviceID, 10), ConversationID: strconv.FormatInt(conv.ID, 10),
			CollapseKey: "c" + strconv.FormatInt(conv.ID, 10), Event: repo.NotifyMessage, MessageID: id,
			Title: title, Body: body, Count: len(msgs), Badge: badge, TTL: noticeTTL, Sent: now,
		}})
	}
	return out, nil
}

// text is a notice's title (the sender, or the group's name) and body (a
// preview of the newest message, or a count when previews are off).
func (n *Notifier) text(ctx context.Context, conv repo.Conversation, newest repo.Message, count int, previews bool) (string, string, error) {
	sender, err := n.app.store.GetUser(ctx, newest.SenderID)
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return "", "", err
	}
	who := sender.DisplayName
	if who == "" {
		who = sender.Handle
	}
	title := who
	if conv.Kind != repo.KindDirect && conv.Name != "" {
		title = conv.Name
	}
	if !previews {
		if count == 1 {
			return title, "New message", nil
		}
		return title, strconv.Itoa(count) + " new messages", nil
	}
	body := preview(newest)
	if conv.Kind != repo.KindDirect {
		body = who + ": " + body
	}
	if count > 1 {
		body = fmt.Sprintf("%s (+%d more)", body, count-1)
	}
	return title, body, nil
}

func preview(m repo.Message) string {
	b := strings.TrimSpace(m.Body)
	if b == "" && len(m.Media) > 0 {
		return "Sent an attachment"
	}
	if utf8.RuneCountInString(b) > previewRunes {
		r := []rune(b)
		b = string(r[:previewRunes]) + "…"
	}
	return b
}

// badge is the user's unread total over the first page of their chat list
// (each conversation's count is itself capped; so is the page).
func (n *Notifier) badge(ctx context.Context, userID int64) (int, error) {
	entries, _, err := n.app.ChatList(ctx, repo.Session{UserID: userID}, []int{repo.SectionPinned, repo.SectionMain}, nil, 50)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, e := range entries {
		total += e.UnreadCount
	}
	return total, nil
}
