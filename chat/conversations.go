package chat

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
)

// ConversationView is a conversation as one member sees it.
type ConversationView struct {
	Conversation repo.Conversation
	MemberCount  int
	Role         string // the viewer's role
}

// JSON renders the view as answers and events carry it.
func (v ConversationView) JSON() ConversationJSON {
	return ConversationOut(v.Conversation, v.MemberCount, v.Role)
}

// CreateDirect returns the one direct conversation of me and other, made on
// the first call (created true) and the same one after, whoever asks.
//
// Codes: invalid_argument (other is me); not_found (no such user);
// permission_denied (other blocks me); unavailable (the id lease is gone).
func (a *App) CreateDirect(ctx context.Context, me repo.Session, other int64) (ConversationView, bool, error) {
	if other == me.UserID {
		return ConversationView{}, false, invalid("a direct conversation needs another user")
	}
	if err := a.existingUsers(ctx, []int64{other}); err != nil {
		return ConversationView{}, false, err
	}
	if err := a.blockedBy(ctx, other, me.UserID); err != nil {
		return ConversationView{}, false, err
	}
	newID, err := a.newID()
	if err != nil {
		return ConversationView{}, false, err
	}
	conv, created, err := a.store.GetOrCreateDirect(ctx, me.UserID, other, newID)
	if err != nil {
		return ConversationView{}, false, err
	}
	return ConversationView{Conversation: conv, MemberCount: 2, Role: repo.RoleMember}, created, nil
}

// Conversation is a conversation me belongs to.
//
// Codes: permission_denied (not a member); not_found (no conversation).
func (a *App) Conversation(ctx context.Context, me repo.Session, convID int64) (ConversationView, error) {
	conv, members, member, err := a.membership(ctx, convID, me.UserID)
	if err != nil {
		return ConversationView{}, err
	}
	return ConversationView{Conversation: conv, MemberCount: len(members), Role: member.Role}, nil
}

// Members lists a conversation's members, ordered by user id (at most the
// group bound).
//
// Codes: permission_denied (not a member); not_found (no conversation).
func (a *App) Members(ctx context.Context, me repo.Session, convID int64) ([]repo.Member, error) {
	_, members, _, err := a.membership(ctx, convID, me.UserID)
	return members, err
}

// existingUsers fails with not_found for a user of ids that does not
// exist, reading at most 16 at once.
func (a *App) existingUsers(ctx context.Context, ids []int64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, id := range ids {
		g.Go(func() error {
			u, err := a.store.GetUser(gctx, id)
			if repo.IsCode(err, repo.CodeNotFound) || err == nil && u.Deleted() {
				return repo.Errorf(repo.CodeNotFound, "user %d not found", id)
			}
			return err
		})
	}
	return g.Wait()
}
