package chat

import (
	"context"
	"strconv"
	"strings"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
)

// noticeSpec is what one user's devices are told.
type noticeSpec struct {
	conv    repo.Conversation
	userID  int64
	device  int64  // 0: every device of the user with a target
	event   string // message, mention or added
	stem    string // the notice id's start: the newest message id, or "a" + a change id
	msgID   string // the newest message ("" for added)
	count   int
	row     repo.OutboxEntry // what a retry row is made from
	attempt int
	// mentions are the messages in which the user may be named (@handle):
	// such a notice is a mention, and reaches a muted conversation too.
	mentions []repo.Message
	// text is the title and body for a target (previews: its setting).
	text func(ctx context.Context, previews bool) (string, string, error)
}

// messageSpec tells userID of msgs (oldest first) in conv.
func (n *Notifier) messageSpec(bc *bucketCache, conv repo.Conversation, userID, device int64, msgs []repo.Message,
	row repo.OutboxEntry, attempt int) noticeSpec {
	newest := msgs[len(msgs)-1]
	id := strconv.FormatInt(newest.ID, 10)
	return noticeSpec{conv: conv, userID: userID, device: device, event: repo.NotifyMessage, stem: id, msgID: id,
		count: len(msgs), row: row, attempt: attempt, mentions: msgs,
		text: func(ctx context.Context, previews bool) (string, string, error) {
			return n.text(ctx, bc, conv, newest, len(msgs), previews)
		}}
}

// addedNotices tells the user a row names (every member but the one who
// made the change, for a new group) that they were added, if they still are
// a member and the group still exists.
func (n *Notifier) addedNotices(ctx context.Context, bc *bucketCache, r repo.OutboxEntry) ([]notice, error) {
	store := n.app.store
	conv, err := store.GetConversation(ctx, r.ConvID)
	if repo.IsCode(err, repo.CodeNotFound) || (err == nil && conv.Deleted) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var users []int64
	if r.UserID != 0 {
		if _, err := store.GetMember(ctx, r.ConvID, r.UserID); repo.IsCode(err, repo.CodeNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		users = []int64{r.UserID}
	} else {
		ms, err := store.ListMembers(ctx, r.ConvID)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.UserID != r.SenderID {
				users = append(users, m.UserID)
			}
		}
	}
	var out []notice
	for _, u := range users {
		ns, err := n.userNotices(ctx, bc, noticeSpec{conv: conv, userID: u, device: r.DeviceID, event: repo.NotifyAdded,
			stem: "a" + strconv.FormatInt(r.MsgID, 10), count: 1, row: r, attempt: r.Attempt,
			text: func(ctx context.Context, _ bool) (string, string, error) {
				actor, err := bc.user(ctx, r.SenderID)
				who := actor.DisplayName
				if who == "" {
					who = actor.Handle
				}
				return conv.Name, who + " added you to the group", err
			}})
		if err != nil {
			return nil, err
		}
		out = append(out, ns...)
	}
	return out, nil
}

// userNotices makes the notices of one user's devices: those with a target
// of a kind this node carries, no live socket, not in quiet hours, still
// logged in; none while the conversation is muted, unless the user is
// mentioned.
func (n *Notifier) userNotices(ctx context.Context, bc *bucketCache, sp noticeSpec) ([]notice, error) {
	targets, err := bc.targets(ctx, sp.userID)
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	if len(sp.mentions) > 0 {
		u, err := bc.user(ctx, sp.userID)
		if err != nil {
			return nil, err
		}
		if mentioned(sp.mentions, u.Handle) {
			sp.event = repo.NotifyMention
		}
	}
	uc, err := n.app.store.GetUserConversation(ctx, sp.userID, sp.conv.ID)
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return nil, err
	}
	now := n.app.now()
	if uc.MutedUntil.After(now) && sp.event != repo.NotifyMention {
		n.n.skipped.Add(int64(len(targets)))
		return nil, nil
	}
	online, err := n.conns.OnlineDevices(ctx, []int64{sp.userID})
	if err != nil {
		return nil, err
	}
	var out []notice
	for _, t := range targets {
		if sp.device != 0 && t.DeviceID != sp.device {
			continue
		}
		if _, ok := n.senders[notify.Kind(t.Kind)]; !ok {
			// This node carries no sender of the kind (--push-kinds differs
			// between nodes): counted, and said in the log, not silent.
			n.n.skipped.Add(1)
			n.log.Warn("push target of a kind this node does not carry", "kind", t.Kind, "user", sp.userID, "device", t.DeviceID)
			continue
		}
		if online[sp.userID].Has(t.DeviceID) || InQuietHours(t, now, n.zone) {
			n.n.skipped.Add(1)
			continue
		}
		live, err := bc.deviceLive(ctx, sp.userID, t.DeviceID)
		if err != nil {
			return nil, err
		}
		if !live {
			n.n.skipped.Add(1) // every session ended or expired: logged out
			continue
		}
		title, body, err := sp.text(ctx, t.Previews)
		if err != nil {
			return nil, err
		}
		badge, err := bc.badge(ctx, sp.userID)
		if err != nil {
			return nil, err
		}
		out = append(out, notice{target: t, row: sp.row, attempt: sp.attempt, n: notify.Notification{
			ID: sp.stem + "-" + strconv.FormatInt(t.DeviceID, 10), UserID: strconv.FormatInt(sp.userID, 10),
			DeviceID: strconv.FormatInt(t.DeviceID, 10), ConversationID: strconv.FormatInt(sp.conv.ID, 10),
			CollapseKey: "c" + strconv.FormatInt(sp.conv.ID, 10), Event: sp.event, MessageID: sp.msgID,
			Title: title, Body: body, Count: sp.count, Badge: badge, TTL: noticeTTL, Sent: now,
		}})
	}
	return out, nil
}

// mentioned reports whether any message names handle as @handle (any case),
// not as the start of a longer handle or an address.
func mentioned(msgs []repo.Message, handle string) bool {
	if handle == "" {
		return false
	}
	want := "@" + strings.ToLower(handle)
	for _, m := range msgs {
		body := strings.ToLower(m.Body)
		for i := strings.Index(body, want); i >= 0; {
			end := i + len(want)
			before := i == 0 || !handleByte(body[i-1])
			// A full stop right after ends the sentence, not the handle.
			after := end == len(body) || !handleByte(body[end]) ||
				(body[end] == '.' && (end+1 == len(body) || !handleByte(body[end+1])))
			if before && after {
				return true
			}
			next := strings.Index(body[end:], want)
			if next < 0 {
				break
			}
			i = end + next
		}
	}
	return false
}

func handleByte(b byte) bool {
	return b == '_' || b == '.' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
}
