package chat

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// emit stores an event in each recipient's inbox (what sync returns) and pushes
// it to their connected devices. Like a send, the inbox rows must be written
// within SendDeadline of the event id, or sync could skip them (docs/sync.md).
func (a *App) emit(ctx context.Context, recipients []int64, kind string, convID, msgID int64, data any) error {
	return a.emitStored(ctx, recipients, recipients, kind, convID, msgID, data)
}

// emitStored stores the event in the inboxes of stored and pushes it to the
// connected devices of pushed (which should include stored).
func (a *App) emitStored(ctx context.Context, stored, pushed []int64, kind string, convID, msgID int64, data any) error {
	id, payload, err := a.newEvent(data)
	if err != nil {
		return err
	}
	ev := repo.Event{ID: id, Kind: kind, ConvID: convID, MsgID: msgID, Payload: string(payload)}
	ectx, cancel := context.WithDeadline(ctx, snowflake.Time(ev.ID).Add(a.cfg.SendDeadline))
	defer cancel()
	if err := a.store.AppendEvent(ectx, stored, ev); err != nil {
		return err
	}
	a.delivery.Push(pushed, kind, id, payload, time.Time{})
	return nil
}

// newEvent takes an event id and encodes the event's data.
func (a *App) newEvent(data any) (int64, []byte, error) {
	payload, err := json.Marshal(data)
	if err != nil {
		return 0, nil, err
	}
	id, err := a.newID()
	return id, payload, err
}

// pushOnly sends an event to connected devices without storing it.
func (a *App) pushOnly(recipients []int64, kind string, data any) error {
	id, payload, err := a.newEvent(data)
	if err != nil {
		return err
	}
	a.delivery.Push(recipients, kind, id, payload, time.Time{})
	return nil
}

func memberIDs(ms []repo.Member) []int64 {
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.UserID
	}
	return ids
}

func findMember(ms []repo.Member, userID int64) (repo.Member, bool) {
	for _, m := range ms {
		if m.UserID == userID {
			return m, true
		}
	}
	return repo.Member{}, false
}
