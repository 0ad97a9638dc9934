package chat

import (
	"context"

	"github.com/ringchat/ringchat/repo"
)

// RemoveMember removes target from a group (owner: anyone; admin: plain
// members) or, when target is me, leaves it. An owner who leaves hands the
// group to the longest-standing admin, else the longest-standing member; the
// last member leaving deletes it. From the removal on, nothing new is
// written to the removed member's inbox or pushed to their sockets; then
// everyone, the removed member included, gets member.removed. A retry whose
// first attempt removed the member succeeds.
//
// Codes: invalid_argument (not a group); not_found (no conversation;
// target not a member); permission_denied (not a member; the role may not).
func (a *App) RemoveMember(ctx context.Context, me repo.Session, convID, target int64) error {
	conv, members, member, err := a.membership(ctx, convID, me.UserID)
	if repo.IsCode(err, repo.CodePermissionDenied) && target == me.UserID {
		return a.retryLeave(ctx, convID, target)
	}
	if err != nil {
		return err
	}
	if err := requireGroup(conv); err != nil {
		return err
	}
	repaired, err := a.repairChanges(ctx, conv.ID, memberIDs(members))
	if err != nil {
		return err
	}
	removed, ok := findMember(members, target)
	if !ok {
		if repairedRemoval(repaired, target) {
			return nil // a retry: the first attempt removed them
		}
		return repo.Errorf(repo.CodeNotFound, "user %d is not a member", target)
	}
	if target != member.UserID {
		allowed := member.Role == repo.RoleOwner || (member.Role == repo.RoleAdmin && removed.Role == repo.RoleMember)
		if !allowed {
			return repo.Errorf(repo.CodePermissionDenied, "your role (%s) may not remove a %s", member.Role, removed.Role)
		}
	} else if member.Role == repo.RoleOwner {
		if len(members) == 1 {
			return a.store.DeleteGroup(ctx, conv.ID, []int64{member.UserID}, a.now())
		}
		heir := successor(members, member.UserID)
		if err := a.store.SetRole(ctx, conv.ID, heir.UserID, repo.RoleOwner); err != nil {
			return err
		}
		heir.Role = repo.RoleOwner
		if err := a.emit(ctx, memberIDs(members), EventMemberUpdated, conv.ID, 0,
			map[string]any{"conversation_id": IDString(conv.ID), "members": []MemberJSON{MemberOut(heir)}, "by": IDString(member.UserID)}); err != nil {
			return err
		}
	}
	// Remove first, then tell everyone (the removed member included): from here
	// on nothing new is written to their inbox or pushed to their sockets.
	out := ConversationOut(conv, len(members)-1, "")
	change, err := a.newChange(conv.ID, repo.EventMemberRemoved, target, memberEvent(conv.ID, []int64{target}, member.UserID, out))
	if err != nil {
		return err
	}
	if err := a.store.RemoveMember(ctx, conv.ID, target, change); err != nil {
		return err
	}
	return a.sendChange(ctx, *change, memberIDs(members))
}

// retryLeave answers a member's retried leave: no longer a member, they may
// still send the event their first attempt stored but did not send.
func (a *App) retryLeave(ctx context.Context, convID, me int64) error {
	_, members, err := a.conversationAndMembers(ctx, convID)
	if err != nil {
		return err
	}
	repaired, err := a.repairChanges(ctx, convID, memberIDs(members))
	if err != nil {
		return err
	}
	if repairedRemoval(repaired, me) {
		return nil
	}
	return repo.Errorf(repo.CodePermissionDenied, "not a member of this conversation")
}

// successor is the member who inherits a group from a leaving owner.
func successor(members []repo.Member, owner int64) repo.Member {
	rest := make([]repo.Member, 0, len(members))
	for _, m := range members {
		if m.UserID != owner {
			rest = append(rest, m)
		}
	}
	repo.SortMembersBySeniority(rest)
	for _, m := range rest {
		if m.Role == repo.RoleAdmin {
			return m
		}
	}
	return rest[0]
}
