package chat

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// The operator's event webhook (docs/integrations.md): after a message is
// stored, and after a group's membership changes, one signed POST to the
// operator's endpoint. The events ride the notification outbox: the rows a
// send and a membership change write already, worked by the same shard
// leases, so they are durable and at least once, and add no write to a send.

// Operator event types.
const (
	EventMessageCreated = "message.created"
	// and repo.EventMemberAdded, repo.EventMemberRemoved: the socket frames' names
)

// OperatorEvent is one delivery to the operator's endpoint.
type OperatorEvent struct {
	// ID is the webhook-id: the same for every attempt and for a retried
	// send's second outbox row, so the endpoint drops repeats by it.
	ID   string
	Type string
	Data any
}

// EventHook posts operator events. Its errors are classified as
// notify.Sender's (ErrGone counts as a refusal: nothing is removed).
type EventHook interface {
	Post(ctx context.Context, ev OperatorEvent) error
}

// eventRetryPrefix marks a retry row of an event (event = "hook." + the
// outbox event it is made from), which makes no push notice. The
// operator's carry device_id eventRetryDevice, so a node of an older
// version reads them as a device's retry that names no member, and makes
// nothing of them; a bot's carry its device (an older node makes that
// device a coalesced notice of a message, and nothing of an addition).
const (
	eventRetryPrefix = "hook."
	eventRetryDevice = -1
)

func isEventRetry(r repo.OutboxEntry) bool { return strings.HasPrefix(r.Event, eventRetryPrefix) }

// outboxEventOf is the outbox event an event type is made from.
func outboxEventOf(typ string) string {
	switch typ {
	case repo.EventMemberAdded:
		return repo.NotifyAdded
	case repo.EventMemberRemoved:
		return repo.NotifyRemoved
	}
	return repo.NotifyMessage
}

// eventNotice wraps an operator event as a notice, so it is delivered,
// retried, paused and dead-lettered as one (by the "event" kind).
func eventNotice(ev OperatorEvent, r repo.OutboxEntry, convID, msgID int64) notice {
	nt := notice{event: &ev, row: r, attempt: r.Attempt, target: repo.PushTarget{Kind: eventKind}}
	nt.n.ID, nt.n.Event = ev.ID, ev.Type
	nt.n.ConversationID, nt.n.MessageID = IDString(convID), IDString(msgID)
	return nt
}

// eventKind names the operator's endpoint in dead letters and pauses.
const eventKind = "event"

// messageEvents are the message.created events of a conversation's
// messages in a bucket (read already: not recalled, acknowledged).
func (n *Notifier) messageEvents(msgs []repo.Message, rows []repo.OutboxEntry) []notice {
	if n.cfg.Events == nil {
		return nil
	}
	rowOf := make(map[int64]repo.OutboxEntry, len(rows))
	for _, r := range rows {
		rowOf[r.MsgID] = r
	}
	out := make([]notice, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, eventNotice(messageCreated(m), rowOf[m.ID], m.ConvID, m.ID))
	}
	return out
}

// changeEvent is the member.added or member.removed event of a membership
// row (first made, or made again by a retry row): who joined or left by
// that change, and who made it.
func (n *Notifier) changeEvent(ctx context.Context, r repo.OutboxEntry) ([]notice, error) {
	base := strings.TrimPrefix(r.Event, eventRetryPrefix)
	users := []int64{r.UserID}
	typ := repo.EventMemberRemoved
	if base == repo.NotifyAdded {
		typ = repo.EventMemberAdded
		if r.UserID == 0 { // a new group: its members but the creator, as the change made them
			joined, err := n.joinedBy(ctx, r)
			if err != nil {
				return nil, err
			}
			users = joined
		}
	}
	return []notice{eventNotice(memberChange(typ, r, users), r, r.ConvID, r.MsgID)}, nil
}

// messageCreated is the message.created event of m, its id stable per message.
func messageCreated(m repo.Message) OperatorEvent {
	return OperatorEvent{ID: "msg_" + strconv.FormatInt(m.ID, 10), Type: EventMessageCreated,
		Data: map[string]any{"message": MessageOut(m)}}
}

// memberChange is the event of the membership row r (typ: added or
// removed) about users.
func memberChange(typ string, r repo.OutboxEntry, users []int64) OperatorEvent {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = IDString(u)
	}
	id := "rm_" + strconv.FormatInt(r.MsgID, 10)
	if typ == repo.EventMemberAdded {
		id = "add_" + strconv.FormatInt(r.MsgID, 10)
	}
	if r.UserID != 0 {
		id += "_" + strconv.FormatInt(r.UserID, 10)
	}
	return OperatorEvent{ID: id, Type: typ, Data: map[string]any{"conversation_id": IDString(r.ConvID),
		"user_ids": ids, "by": IDString(r.SenderID), "change_id": IDString(r.MsgID),
		"at": snowflake.Time(r.MsgID).UTC()}}
}

// botNotices are a bot's webhook target's deliveries of sp: an event each,
// with the device in its id (each of the bot's targets drops its repeats).
func botNotices(t repo.PushTarget, sp noticeSpec) []notice {
	var out []notice
	for _, ev := range sp.botEvents() {
		ev.ID += "_d" + strconv.FormatInt(t.DeviceID, 10)
		msgID := sp.row.MsgID // an addition's change id
		if m, ok := ev.Data.(map[string]any)["message"].(MessageJSON); ok {
			msgID, _ = strconv.ParseInt(m.ID, 10, 64)
		}
		nt := eventNotice(ev, sp.row, sp.conv.ID, msgID)
		nt.target, nt.attempt = t, sp.attempt
		if sp.event == repo.NotifyMention {
			nt.n.Event = repo.NotifyMention // its retry passes a mute as the first did
		}
		out = append(out, nt)
	}
	return out
}

// joinedBy lists the members of a new group that its creating change made,
// but its creator (r.SenderID): those who joined no later than the change.
func (n *Notifier) joinedBy(ctx context.Context, r repo.OutboxEntry) ([]int64, error) {
	ms, err := n.app.store.ListMembers(ctx, r.ConvID)
	if err != nil {
		return nil, err
	}
	changedAt := snowflake.Time(r.MsgID).Add(repo.ClockSkew)
	users := []int64{}
	for _, m := range ms {
		if m.UserID != r.SenderID && !m.JoinedAt.After(changedAt) {
			users = append(users, m.UserID)
		}
	}
	return users, nil
}

// changeNotices makes a membership row's notices and operator event
// together: if either cannot be made, the row is put off whole, so the
// part made is not delivered twice.
func (n *Notifier) changeNotices(ctx context.Context, bc *bucketCache, r repo.OutboxEntry) ([]notice, error) {
	var out []notice
	if r.Event == repo.NotifyAdded && len(n.senders) > 0 {
		ns, err := n.addedNotices(ctx, bc, r)
		if err != nil {
			return nil, err
		}
		out = ns
	}
	if n.cfg.Events == nil {
		return out, nil
	}
	evs, err := n.changeEvent(ctx, r)
	if err != nil {
		return nil, err
	}
	return append(out, evs...), nil
}

// errNoEventHook puts off an event's retry row that reached a node without
// the endpoint configured (nodes configured unlike): it is retried, then
// dead-lettered, not dropped.
var errNoEventHook = fmt.Errorf("operator event retry on a node without --event-webhook-url")

// retryChangeEvent makes a membership event again from its retry row.
func (n *Notifier) retryChangeEvent(ctx context.Context, _ *bucketCache, r repo.OutboxEntry) ([]notice, error) {
	if n.cfg.Events == nil {
		return nil, errNoEventHook
	}
	return n.changeEvent(ctx, r)
}

// retryMessageEvent makes a message.created event again from its retry
// row, unless the message was recalled since.
func (n *Notifier) retryMessageEvent(ctx context.Context, _ *bucketCache, r repo.OutboxEntry) ([]notice, error) {
	if n.cfg.Events == nil {
		return nil, errNoEventHook
	}
	_, msgs, err := n.messages(ctx, r.ConvID, []repo.OutboxEntry{r})
	if err != nil {
		return nil, err
	}
	return n.messageEvents(msgs, []repo.OutboxEntry{r}), nil
}

// retryBotEvent makes a bot's event again for its one device, as things
// are now: a message recalled since, a bot no longer a member, a device
// online or logged out get nothing (userNotices decides, as for a notice).
func (n *Notifier) retryBotEvent(ctx context.Context, bc *bucketCache, r repo.OutboxEntry) ([]notice, error) {
	r.Event = strings.TrimPrefix(r.Event, eventRetryPrefix)
	if r.Event == repo.NotifyAdded {
		return n.addedNotices(ctx, bc, r)
	}
	conv, msgs, err := n.memberMessage(ctx, r)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	sp := n.messageSpec(bc, conv, r.UserID, r.DeviceID, msgs, r, r.Attempt)
	if r.Event == repo.NotifyMention {
		sp.event, sp.mentions = repo.NotifyMention, nil
	}
	return n.userNotices(ctx, bc, sp)
}
