package chat

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
)

// HistoryQuery is one page of a conversation's history: newest first from
// Before (0: from now), or oldest first from After when it is set.
type HistoryQuery struct {
	Before, After int64
	Limit         int
}

// History returns a page of a conversation's messages. The membership check
// and the page read run at once (one round trip less per page); the page is
// returned only once membership is proven.
//
// Codes: permission_denied (not a member); not_found (no conversation).
func (a *App) History(ctx context.Context, me repo.Session, convID int64, q HistoryQuery) (repo.HistoryPage, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := a.store.Authorize(gctx, convID, me.UserID)
		return err
	})
	before := q.Before
	if ceiling := repo.NewestPossibleID(a.now()) + 1; q.After == 0 && (before == 0 || before > ceiling) {
		// From now, allowing for writers whose clocks run a little ahead. A
		// position past that holds nothing: starting there would only walk empty
		// buckets (and overflow near the int64 maximum).
		before = ceiling
	}
	var page repo.HistoryPage
	g.Go(func() (err error) {
		if q.After > 0 {
			page, err = a.store.HistoryAfter(gctx, convID, q.After, q.Limit, a.now())
		} else {
			page, err = a.store.HistoryBefore(gctx, convID, before, q.Limit)
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return repo.HistoryPage{}, err
	}
	return page, nil
}
