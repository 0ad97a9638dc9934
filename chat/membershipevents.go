package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/ringchat/ringchat/repo"
)

// A membership change is stored together with its event (repo.MembershipChange,
// one logged batch); the event is then sent and forgotten. When sending fails,
// the next membership request on the conversation (the client's retry, or any
// other) sends it again: a stored change always reaches the members.

// newChange builds the change record of a member.added or member.removed event.
func (a *App) newChange(convID int64, kind string, userID int64, data any) (*repo.MembershipChange, error) {
	payload, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	id, err := a.newID()
	if err != nil {
		return nil, err
	}
	return &repo.MembershipChange{ConvID: convID, ID: id, Kind: kind, UserID: userID, Payload: string(payload)}, nil
}

// sendChange sends a stored change to the members (and the user it is about)
// under a fresh event id, then forgets it. Its outbox row goes first: a
// change whose row could not be written stays pending, and the repair that
// sends it writes the row too.
func (a *App) sendChange(ctx context.Context, ch repo.MembershipChange, members []int64) error {
	if err := a.changeOutbox(ctx, ch); err != nil {
		return err
	}
	recipients := members
	if !slices.Contains(recipients, ch.UserID) {
		recipients = append(slices.Clip(recipients), ch.UserID)
	}
	if err := a.emit(ctx, recipients, ch.Kind, ch.ConvID, 0, json.RawMessage(ch.Payload)); err != nil {
		return err
	}
	return a.store.ChangeSent(ctx, ch.ConvID, ch.ID)
}

// repairChanges sends the conversation's changes whose event was not sent,
// and returns them.
func (a *App) repairChanges(ctx context.Context, convID int64, members []int64) ([]repo.MembershipChange, error) {
	pending, err := a.store.PendingChanges(ctx, convID)
	if err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		// A change whose event was not sent may not have replaced the
		// members version either (it failed after its rows were written):
		// lists read before it must stop serving sends before it is answered.
		if err := a.store.BumpMembers(ctx, convID); err != nil {
			return nil, err
		}
	}
	for _, ch := range pending {
		if err := a.sendChange(ctx, ch, members); err != nil {
			return nil, err
		}
	}
	return pending, nil
}

// repairedRemoval tells whether the repaired changes include userID's removal:
// a retried DELETE whose first attempt removed the member succeeds.
func repairedRemoval(changes []repo.MembershipChange, userID int64) bool {
	return slices.ContainsFunc(changes, func(ch repo.MembershipChange) bool {
		return ch.Kind == repo.EventMemberRemoved && ch.UserID == userID
	})
}

// changeOutbox writes the outbox row of a stored change: an addition's
// tells whom it added (pushes, and the operator's event), a removal's is for
// the operator's event only. It goes under a fresh id, so its bucket is one
// not worked yet however long the change took (the change id was made
// before the checks). A change sent again (an error after its row, then a
// repair) writes another row: the notices say so once per node, the events
// carry the same webhook-id.
func (a *App) changeOutbox(ctx context.Context, ch repo.MembershipChange) error {
	event, on := repo.NotifyAdded, a.cfg.Notify.Outbox()
	switch ch.Kind {
	case repo.EventMemberAdded:
	case repo.EventMemberRemoved:
		event, on = repo.NotifyRemoved, a.cfg.Notify.Events
	default:
		return nil
	}
	if !on {
		return nil
	}
	var p struct {
		By string `json:"by"`
	}
	if err := json.Unmarshal([]byte(ch.Payload), &p); err != nil {
		return fmt.Errorf("membership change %d: %w", ch.ID, err)
	}
	actor, _ := strconv.ParseInt(p.By, 10, 64)
	target := ch.UserID
	if ch.Kind == repo.EventMemberAdded && ch.ID == ch.ConvID {
		target = 0 // a new group (its change id is the group's): every member but its creator
	}
	id, err := a.newID()
	if err != nil {
		return err
	}
	return a.store.PutChangeOutbox(ctx, event, repo.OutboxEntry{EventID: id, MsgID: ch.ID, ConvID: ch.ConvID,
		SenderID: actor, UserID: target})
}
