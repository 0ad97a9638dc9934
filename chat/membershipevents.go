package chat

import (
	"context"
	"encoding/json"
	"slices"

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
// under a fresh event id, then forgets it.
func (a *App) sendChange(ctx context.Context, ch repo.MembershipChange, members []int64) error {
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
