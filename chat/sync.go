package chat

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// safePoint is the id below which every send has finished writing (or failed):
// ids are made before writing and a send must finish within SendDeadline.
func (a *App) safePoint(now time.Time) int64 {
	return snowflake.MinIDAt(now.Add(-a.cfg.SyncLag))
}

// Sync returns the caller's next page of inbox events from cursor (nil:
// from now) and the cursor to continue from. It never skips: the cursor
// never passes the safe point (SyncLag behind now), message events carry
// what their message is now (recalled content withdrawn, references
// rendered), and a page read while the local DC caught up is refused rather
// than handed out with a cursor past writes it may have missed.
//
// A ctx that did not come from ReadContext has its consistency chosen here.
//
// Codes: unavailable (the DC began catching up while the page was read:
// retry).
func (a *App) Sync(ctx context.Context, me repo.Session, cursor *repo.SyncCursor, limit int) (repo.SyncPage, error) {
	if _, chosen := ctx.Value(readChoiceKey{}).(uint64); !chosen {
		ctx = a.ReadContext(ctx)
	}
	now := a.now()
	safe := a.safePoint(now)
	var from repo.SyncCursor
	if cursor != nil {
		from = *cursor
	} else {
		// No cursor: start from now. Starting at the safe point (not at now) means
		// events of the last SyncLag come with the next call rather than never.
		from.At = safe
	}
	page, err := a.store.Sync(ctx, me.UserID, from, limit, safe, now, renderMessage)
	if err != nil {
		return repo.SyncPage{}, err
	}
	if page.Events, err = a.completeEvents(ctx, page.Events); err != nil {
		return repo.SyncPage{}, err
	}
	if gen, _ := ctx.Value(readChoiceKey{}).(uint64); a.catchUp.Changed(gen) {
		// A local node came back while this ran: it may have read that
		// replica at the consistency it began with. The retry reads across DCs.
		return repo.SyncPage{}, repo.Errorf(repo.CodeUnavailable, "the data centre is catching up: retry the sync")
	}
	return page, nil
}

// readChoiceKey holds, in a context ReadContext made, the repo.CatchUp
// generation its consistency was chosen at.
type readChoiceKey struct{}

// ReadContext chooses the consistency of one request's reads: while the local
// DC may lack writes made elsewhere (repo.CatchUp), it reads what every DC
// acknowledged. Sync needs its context to come from here: it checks that no
// return came since this choice.
func (a *App) ReadContext(ctx context.Context) context.Context {
	active, gen := a.catchUp.Active()
	if active {
		ctx = repo.ReadAcrossDCs(ctx)
	}
	return context.WithValue(ctx, readChoiceKey{}, gen)
}

func renderMessage(m repo.Message) string {
	b, _ := json.Marshal(MessageOut(m))
	return string(b)
}
