package chat

import (
	"context"
	"slices"

	"github.com/ringchat/ringchat/repo"
	"golang.org/x/sync/errgroup"
)

// sendAudience returns the conversation (its kind and fan-out mode matter
// here) and every member's id, and fails unless sender is a member. Direct
// conversations come from the node's cache after their first send.
func (a *App) sendAudience(ctx context.Context, convID, sender int64) (repo.Conversation, []int64, error) {
	if ids, ok := a.direct.get(convID); ok {
		if ids[0] != sender && ids[1] != sender {
			return repo.Conversation{}, nil, repo.Errorf(repo.CodePermissionDenied, "not a member of this conversation")
		}
		return repo.Conversation{ID: convID, Kind: repo.KindDirect, Fanout: repo.FanoutPush}, ids[:], nil
	}
	// The row first, then the members: a list is cached under the members
	// version seen before it was read (groupMembers), never after.
	conv, err := a.store.GetConversation(ctx, convID)
	if repo.IsCode(err, repo.CodeNotFound) {
		err = repo.Errorf(repo.CodeNotFound, "conversation not found")
	}
	if err != nil {
		return repo.Conversation{}, nil, err
	}
	ids, cached := a.groups.get(convID, conv.MembersVersion)
	if !cached {
		members, err := a.store.ListMembers(ctx, convID)
		if err != nil {
			return repo.Conversation{}, nil, err
		}
		a.direct.remember(conv, members)
		ids = memberIDs(members)
		switch {
		case conv.Kind != repo.KindGroup:
		case conv.MembersVersion == 0:
			// A group made before v0015: its first version, written in the
			// background, makes its list cacheable without a membership
			// change. A bump is always safe: it only retires lists read before it.
			if a.cfg.GroupCache > 0 {
				a.firstVersions.start(convID, "first members version not written; the group's list is read per send until a later one is", func(ctx context.Context) error {
					return a.store.BumpMembers(ctx, convID)
				})
			}
		default:
			a.groups.remember(convID, conv.MembersVersion, ids)
		}
	}
	if !slices.Contains(ids, sender) {
		return repo.Conversation{}, nil, repo.Errorf(repo.CodePermissionDenied, "not a member of this conversation")
	}
	return conv, ids, nil
}

// conversationAndMembers reads a conversation's row and member list at once.
func (a *App) conversationAndMembers(ctx context.Context, convID int64) (repo.Conversation, []repo.Member, error) {
	var conv repo.Conversation
	var members []repo.Member
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		conv, err = a.store.GetConversation(gctx, convID)
		if repo.IsCode(err, repo.CodeNotFound) {
			err = repo.Errorf(repo.CodeNotFound, "conversation not found")
		}
		return err
	})
	g.Go(func() (err error) {
		members, err = a.store.ListMembers(gctx, convID)
		return err
	})
	return conv, members, g.Wait()
}

// membership reads a conversation and its members at once and finds userID
// among them: not_found for no such conversation, permission_denied for a
// non-member.
func (a *App) membership(ctx context.Context, convID, userID int64) (repo.Conversation, []repo.Member, repo.Member, error) {
	conv, members, err := a.conversationAndMembers(ctx, convID)
	if err != nil {
		return repo.Conversation{}, nil, repo.Member{}, err
	}
	me, ok := findMember(members, userID)
	if !ok {
		return repo.Conversation{}, nil, repo.Member{}, repo.Errorf(repo.CodePermissionDenied, "not a member of this conversation")
	}
	return conv, members, me, nil
}
