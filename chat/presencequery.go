package chat

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/presence"
	"github.com/ringchat/ringchat/repo"
)

// visibilityParallelism bounds the rule's point reads of one query.
const visibilityParallelism = 16

// Presence is the presence of each user of ids, in order, as the caller may
// see it (presence.Service.Visible): someone whose presence the caller may
// not see shows as offline, never seen, the same answer as for a user who
// never connected, so it reveals nothing.
//
// Codes: invalid_argument (no ids, or more than presence.MaxQuery).
func (a *App) Presence(ctx context.Context, me repo.Session, ids []int64) ([]presence.Status, error) {
	if len(ids) == 0 {
		return nil, invalid("user_ids is required: comma-separated user ids")
	}
	if len(ids) > presence.MaxQuery {
		return nil, invalid("at most %d user_ids", presence.MaxQuery)
	}
	visible := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(visibilityParallelism)
	for i, id := range ids {
		g.Go(func() (err error) {
			visible[i], err = a.presence.Visible(gctx, me.UserID, id)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var shown []int64
	for i, id := range ids {
		if visible[i] {
			shown = append(shown, id)
		}
	}
	statuses := map[int64]presence.Status{}
	if len(shown) > 0 {
		sts, err := a.presence.Query(ctx, shown)
		if err != nil {
			return nil, err
		}
		for _, st := range sts {
			statuses[st.UserID] = st
		}
	}
	out := make([]presence.Status, 0, len(ids))
	for _, id := range ids {
		st, ok := statuses[id]
		if !ok {
			st = presence.Status{UserID: id}
		}
		out = append(out, st)
	}
	return out, nil
}
