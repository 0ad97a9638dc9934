package chat

import (
	"cmp"
	"context"
	"strconv"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
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
	// botEvents are what a bot's webhook target gets instead of the
	// coalesced notice: each message in full, or its addition.
	botEvents func() []OperatorEvent
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
		},
		botEvents: func() []OperatorEvent {
			out := make([]OperatorEvent, len(msgs))
			for i, m := range msgs {
				out[i] = messageCreated(m)
			}
			return out
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
	// Only who joined by this change: not a member added later (who gets
	// their own notice), nor one removed and added again since.
	changedAt := snowflake.Time(r.MsgID).Add(repo.ClockSkew)
	var users []int64
	if r.UserID != 0 {
		m, err := store.GetMember(ctx, r.ConvID, r.UserID)
		if repo.IsCode(err, repo.CodeNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		if !m.JoinedAt.After(changedAt) {
			users = []int64{r.UserID}
		}
	} else {
		ms, err := store.ListMembers(ctx, r.ConvID)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.UserID != r.SenderID && !m.JoinedAt.After(changedAt) {
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
				who := cmp.Or(actor.DisplayName, actor.Handle, "Someone")
				if actor.Deleted() {
					who = "Someone"
				}
				return cmp.Or(conv.Name, "Group"), who + " added you to the group", err
			},
			botEvents: func() []OperatorEvent {
				// About u, whether the row names u or a new group's members:
				// the same id for every attempt (a retry row names u).
				about := r
				about.UserID = u
				return []OperatorEvent{memberChange(repo.EventMemberAdded, about, []int64{u})}
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
	u, err := bc.user(ctx, sp.userID) // read once per bucket, for those with a target
	if err != nil {
		return nil, err
	}
	var by int64 // who mentioned the user, if anyone did
	if len(sp.mentions) > 0 {
		if m, ok := bc.mentioner(sp.mentions, u.Handle); ok {
			sp.event, by = repo.NotifyMention, m
		}
	}
	uc, err := n.app.store.GetUserConversation(ctx, sp.userID, sp.conv.ID)
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return nil, err
	}
	now := n.app.now()
	if uc.MutedUntil.After(now) {
		// A mention reaches a muted conversation, unless by someone the
		// user blocks.
		pass := sp.event == repo.NotifyMention
		if pass && by != 0 {
			blocked, err := n.app.store.Blocks(ctx, sp.userID, by)
			if err != nil {
				return nil, err
			}
			pass = !blocked
		}
		if !pass {
			n.n.skipped.Add(int64(len(targets)))
			return nil, nil
		}
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
		if u.Bot && notify.Kind(t.Kind) == notify.KindWebhook && sp.botEvents != nil {
			out = append(out, botNotices(t, sp)...)
			continue
		}
		// No text when the device or the user's setting of this conversation says so.
		title, body, err := sp.text(ctx, t.Previews && !uc.HidePreviews)
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

// mentionTokens are the handles a body names as @handle, lower-cased
// (ASCII only: a Unicode case fold would turn look-alikes into ASCII
// handles). A handle runs over a-z, 0-9, _ and . (a full stop that ends it
// ends the sentence); an @ inside a word (an address) names nobody, nor
// does a handle followed by @.
func mentionTokens(body string) map[string]bool {
	var out map[string]bool
	for i := 0; i < len(body); i++ {
		if body[i] != '@' || (i > 0 && wordByte(body[i-1])) {
			continue
		}
		j := i + 1
		for j < len(body) && (handleByte(asciiLower(body[j]))) {
			j++
		}
		end := j
		for end > i+1 && body[end-1] == '.' {
			end-- // trailing full stops end the sentence
		}
		if end-i-1 < 3 || (j < len(body) && body[j] == '@') {
			i = j - 1
			continue
		}
		if out == nil {
			out = map[string]bool{}
		}
		b := []byte(body[i+1 : end])
		for k := range b {
			b[k] = asciiLower(b[k])
		}
		out[string(b)] = true
		i = j - 1
	}
	return out
}

func asciiLower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func handleByte(b byte) bool {
	return b == '_' || b == '.' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
}

// wordByte: a byte that makes an @ after it part of a word (an address),
// including any byte of a non-ASCII character.
func wordByte(b byte) bool { return handleByte(asciiLower(b)) || b >= 0x80 }
