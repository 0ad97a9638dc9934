package chat

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Contact is one row of a user's contacts with the other user's profile.
type Contact struct {
	User      repo.User
	State     string // requested, pending or accepted
	UpdatedAt time.Time
}

// otherUser fails unless id is an existing user who is not me.
func (a *App) otherUser(ctx context.Context, me repo.Session, id int64) error {
	if id == me.UserID {
		return invalid("that is you")
	}
	return a.existingUsers(ctx, []int64{id})
}

// formerUser is otherUser for undoing a relation: a deleted account counts,
// so a block of it or a contact row left with it can still be removed.
func (a *App) formerUser(ctx context.Context, me repo.Session, id int64) error {
	if id == me.UserID {
		return invalid("that is you")
	}
	if _, err := a.store.GetUser(ctx, id); repo.IsCode(err, repo.CodeNotFound) {
		return repo.Errorf(repo.CodeNotFound, "user %d not found", id)
	} else if err != nil {
		return err
	}
	return nil
}

// PutContact asks other to be a contact, or accepts their request; both
// sides' rows change in one batch. It returns me's state after.
//
// Codes: invalid_argument (other is me); not_found (no such user);
// permission_denied (other blocks me); conflict (me blocks other).
func (a *App) PutContact(ctx context.Context, me repo.Session, other int64) (string, error) {
	if err := a.otherUser(ctx, me, other); err != nil {
		return "", err
	}
	if err := a.blockedBy(ctx, other, me.UserID); err != nil {
		return "", err
	}
	if mine, err := a.store.Blocks(ctx, me.UserID, other); err != nil {
		return "", err
	} else if mine {
		return "", repo.Errorf(repo.CodeConflict, "you block this user: unblock first")
	}
	return a.store.ChangeContact(ctx, me.UserID, other, repo.ContactAdd, a.now())
}

// DeleteContact ends a contact or a request between me and other, on both sides.
//
// Codes: invalid_argument (other is me); not_found (no such user).
func (a *App) DeleteContact(ctx context.Context, me repo.Session, other int64) error {
	if err := a.formerUser(ctx, me, other); err != nil {
		return err
	}
	_, err := a.store.ChangeContact(ctx, me.UserID, other, repo.ContactRemove, a.now())
	return err
}

// Contacts is a page of me's contacts after the user id after, in state
// ("" for all), and the id to continue after (0: the last page). Filtering
// by state skips rows, so it reads bounded pages until the answer is full or
// ten pages of MaxPageSize rows are read.
//
// Codes: invalid_argument (an unknown state).
func (a *App) Contacts(ctx context.Context, me repo.Session, state string, after int64, limit int) ([]Contact, int64, error) {
	switch state {
	case "", repo.ContactRequested, repo.ContactPending, repo.ContactAccepted:
	default:
		return nil, 0, invalid("state must be requested, pending or accepted")
	}
	out := []Contact{}
	page := a.cfg.Limits.MaxPageSize
	for scanned := 0; len(out) < limit && scanned < 10*page; {
		rows, err := a.store.ListContacts(ctx, me.UserID, after, page)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range rows {
			after = r.ContactID
			if state != "" && r.State != state {
				continue
			}
			u, err := a.store.GetUser(ctx, r.ContactID)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, Contact{User: u, State: r.State, UpdatedAt: r.UpdatedAt})
			if len(out) == limit {
				break
			}
		}
		scanned += len(rows)
		if len(rows) < page {
			after = 0
			break
		}
	}
	return out, after, nil
}

// Block makes other unable to reach me: no sends, typing, receipts,
// contact requests or presence from them; it ends any contact between the
// two. A block wins a racing accept (the contact change reads at SERIAL).
//
// Codes: invalid_argument (other is me); not_found (no such user).
func (a *App) Block(ctx context.Context, me repo.Session, other int64) error {
	if err := a.otherUser(ctx, me, other); err != nil {
		return err
	}
	// One timestamp for the block's rows and flags (repo.Block says why),
	// and a deadline that bounds how long after it they land
	// (repo.BlockRecordLag relies on it).
	at := a.now()
	bctx, cancel := context.WithDeadline(ctx, at.Add(repo.BlockChangeBound))
	defer cancel()
	if err := a.writeBlock(bctx, me.UserID, other, at); err != nil {
		return err
	}
	// A block ends any contact relation or request between the two.
	_, err := a.store.ChangeContact(ctx, me.UserID, other, repo.ContactRemove, a.now())
	return err
}

// writeBlock writes a block's flags and its blocks_by_user row at at.
func (a *App) writeBlock(ctx context.Context, me, other int64, at time.Time) error {
	// The flag sends read first: a block that fails half-way blocks more,
	// not less, and a retry writes both.
	if err := a.setBlockFlag(ctx, me, other, true, at); err != nil {
		return err
	}
	if err := a.store.Block(ctx, me, other, at); err != nil {
		return err
	}
	// And again after: a direct conversation listed since the first found
	// none may have had a send read blocks_by_user before the block landed
	// and record "not blocked" on it, stamped BlockRecordLag before that
	// read, so earlier than at.
	return a.setBlockFlag(ctx, me, other, true, at)
}

// Unblock lifts me's block of other.
//
// Codes: invalid_argument (other is me); not_found (no such user).
func (a *App) Unblock(ctx context.Context, me repo.Session, other int64) error {
	if err := a.formerUser(ctx, me, other); err != nil {
		return err
	}
	at := a.now() // as Block
	ctx, cancel := context.WithDeadline(ctx, at.Add(repo.BlockChangeBound))
	defer cancel()
	// blocks_by_user first: an unblock that fails half-way leaves the send
	// still refused (for at most the flag's TTL), never a listed block that
	// lets sends through.
	if err := a.store.Unblock(ctx, me.UserID, other, at); err != nil {
		return err
	}
	return a.setBlockFlag(ctx, me.UserID, other, false, at)
}

// Blocks is a page of the users me blocks, by user id after after; a full
// page (limit users) may have more.
func (a *App) Blocks(ctx context.Context, me repo.Session, after int64, limit int) ([]repo.User, error) {
	ids, err := a.store.ListBlocks(ctx, me.UserID, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]repo.User, 0, len(ids))
	for _, id := range ids {
		u, err := a.store.GetUser(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// setBlockFlag writes whether me blocks other on me's row of their direct
// conversation, if they have one and it is listed (directPositions reads
// it). A row listed after this read has the flag null, and its sends read
// blocks_by_user.
func (a *App) setBlockFlag(ctx context.Context, me, other int64, blocks bool, at time.Time) error {
	conv, err := a.store.DirectConversation(ctx, me, other)
	if repo.IsCode(err, repo.CodeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	pos, err := a.store.DirectPositions(ctx, conv, [2]int64{me, other})
	if err != nil {
		return err
	}
	return a.store.SetBlocksPeer(ctx, conv, pos[0], blocks, at)
}
