package chat

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
)

// withdrawParallelism bounds the message reads of one sync page.
const withdrawParallelism = 16

// completeEvents makes every message.new and message.edited event of a sync
// page carry what its message is now, with one point read per distinct
// message (a page holds at most the page limit). The rows are of two sorts:
//
//   - A reference (direct message.new rows: repo.Event.IsRef) names the message and
//     carries nothing: it is rendered from the message row, recalled or edited
//     as it is now. A send writes references only once its message row is
//     acknowledged (send.go), so a reference whose message row is missing is
//     data loss (or a row of the first version of references, which wrote both
//     at once): it is dropped, as history does not show the message either.
//   - A row with a payload (message.edited, a group's message.new, and rows
//     written before references) keeps it unless the message is recalled by now: a
//     recall rewrites the original message.new row, but the rows of earlier
//     edits and retries have ids of their own, and a write racing the recall
//     may land after it. The message row's recalled flag is the one truth.
//
// The read is the one withdrawing recalled content always cost; references
// reuse it for the body instead of storing a copy per member.
func (a *App) completeEvents(ctx context.Context, events []repo.Event) ([]repo.Event, error) {
	type ref struct{ conv, msg int64 }
	found := map[ref]repo.Message{}
	var mu sync.Mutex
	checked := map[ref]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(withdrawParallelism)
	for _, ev := range events {
		r := ref{ev.ConvID, ev.MsgID}
		if !needsMessage(ev) || checked[r] {
			continue
		}
		checked[r] = true
		g.Go(func() error {
			m, err := a.store.GetMessage(gctx, r.conv, r.msg)
			if repo.IsCode(err, repo.CodeNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			mu.Lock()
			found[r] = m
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := events[:0]
	for _, ev := range events {
		if needsMessage(ev) {
			m, ok := found[ref{ev.ConvID, ev.MsgID}]
			switch {
			case ev.IsRef() && !ok:
				continue
			case ev.IsRef() || (ok && m.Recalled):
				ev.Payload = renderEvent(ev.Kind, m)
			}
		}
		out = append(out, ev)
	}
	return out, nil
}

// renderEvent is the payload of a message event: message.new carries the
// message, message.edited {"message": ...}.
func renderEvent(kind string, m repo.Message) string {
	if kind == repo.EventMessageNew {
		return renderMessage(m)
	}
	b, _ := json.Marshal(map[string]any{"message": MessageOut(m)})
	return string(b)
}

// needsMessage: an event rendered from its message row (a reference) or one
// that may hold a body or media to withdraw. A payload already rendered
// recalled needs no read.
func needsMessage(ev repo.Event) bool {
	if ev.MsgID == 0 || (ev.Kind != repo.EventMessageNew && ev.Kind != repo.EventMessageEdited) {
		return false
	}
	return ev.IsRef() || !strings.Contains(ev.Payload, `"recalled":true`)
}
