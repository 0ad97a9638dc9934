package chat

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// blockedBy fails with permission_denied when other blocks me.
func (a *App) blockedBy(ctx context.Context, other, me int64) error {
	blocked, err := a.store.Blocks(ctx, other, me)
	if err != nil {
		return err
	}
	if blocked {
		return repo.Errorf(repo.CodePermissionDenied, "this user does not accept that from you")
	}
	return nil
}

// directPositions reads both members' chat positions of a direct
// conversation, which the send's chat-list move needs, and refuses the send
// if the peer blocks the sender: the block state is on the peer's row
// (schema 0014), so a send reads no block list. A row that does not know it
// (null: written before 0014, its hour's TTL ran out, or the row is not
// listed) falls back to blocks_by_user and records the answer on a listed
// row. Block and unblock write the flag of a listed row before they answer,
// so a send whose read starts after a block is acknowledged finds it, as it
// found the blocks_by_user row before. nil positions (not two members yet):
// the old path, a blocks_by_user read.
func (a *App) directPositions(ctx context.Context, convID, sender int64, members []int64) (*[2]repo.DirectPosition, error) {
	if len(members) != 2 || members[0] == members[1] {
		for _, peer := range members {
			if peer != sender {
				if err := a.blockedBy(ctx, peer, sender); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	pos, err := a.store.DirectPositions(ctx, convID, [2]int64{members[0], members[1]})
	if err != nil {
		return nil, err
	}
	for _, p := range pos {
		if p.UserID == sender {
			continue
		}
		if p.BlocksPeer == nil {
			read := time.Now()
			blocked, err := a.store.Blocks(ctx, p.UserID, sender)
			if err != nil {
				return nil, err
			}
			// Stamped BlockRecordLag before the read: a block or unblock the
			// read missed is stamped later by any node's clock, and wins.
			// Not while the local DC catches up: it may lag another DC by
			// more than that, and a stale answer recorded would win there
			// too once replicated (repo.CatchUp).
			if active, _ := a.catchUp.Active(); !active {
				if err := a.store.SetBlocksPeer(ctx, convID, p, blocked, read.Add(-repo.BlockRecordLag)); err != nil {
					a.log.Debug("block flag not recorded; the next send reads blocks_by_user again", "err", err)
				}
			}
			p.BlocksPeer = &blocked
		}
		if *p.BlocksPeer {
			return nil, repo.Errorf(repo.CodePermissionDenied, "this user does not accept that from you")
		}
	}
	return &pos, nil
}
