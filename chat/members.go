package chat

import (
	"context"

	"github.com/ringchat/ringchat/repo"
)

// EventMemberUpdated tells members that someone's role changed.
const EventMemberUpdated = "member.updated"

// PutMember adds target to a group (owner or admin; as admin only the
// owner), or changes a member's role (owner); role "" is member for an add
// and no change for a member. Making someone owner transfers ownership: the
// old owner becomes an admin. Growing past PushMaxMembers switches the group
// to pull fan-out for good. Members get member.added or member.updated.
//
// Codes: invalid_argument (not a group; an unknown role; owner for a
// newcomer; the group full; the owner demoting themselves); not_found (no
// conversation or user); permission_denied (not a member; the role may not;
// target blocks me); conflict (target, or a member at the switch, is in
// MaxPullGroups pull groups already).
func (a *App) PutMember(ctx context.Context, me repo.Session, convID, target int64, role string) (repo.Member, error) {
	conv, members, member, err := a.membership(ctx, convID, me.UserID)
	if err != nil {
		return repo.Member{}, err
	}
	if _, err := a.repairChanges(ctx, conv.ID, memberIDs(members)); err != nil {
		return repo.Member{}, err
	}
	if err := requireGroup(conv); err != nil {
		return repo.Member{}, err
	}
	switch role {
	case "", repo.RoleMember, repo.RoleAdmin, repo.RoleOwner:
	default:
		return repo.Member{}, invalid("role must be owner, admin or member")
	}
	if existing, ok := findMember(members, target); ok {
		return a.changeRole(ctx, conv, members, member, existing, role)
	}
	if err := requireRole(member, repo.RoleOwner, repo.RoleAdmin); err != nil {
		return repo.Member{}, err
	}
	switch role {
	case repo.RoleAdmin:
		if err := requireRole(member, repo.RoleOwner); err != nil {
			return repo.Member{}, err
		}
	case repo.RoleOwner:
		return repo.Member{}, invalid("add the user first, then transfer ownership")
	default:
		role = repo.RoleMember
	}
	if len(members)+1 > a.cfg.Groups.MaxMembers {
		return repo.Member{}, invalid("the group is full (%d members)", a.cfg.Groups.MaxMembers)
	}
	if err := a.existingUsers(ctx, []int64{target}); err != nil {
		return repo.Member{}, err
	}
	if err := a.blockedBy(ctx, target, me.UserID); err != nil {
		return repo.Member{}, err
	}
	all := append(memberIDs(members), target)
	switching := conv.Fanout == repo.FanoutPush && len(all) > a.cfg.Groups.PushMaxMembers
	switch {
	case switching:
		// The switch makes every member's syncs read this group: each of them,
		// not only the newcomer, must have room under the bound.
		if err := a.checkPullRoom(ctx, all); err != nil {
			return repo.Member{}, err
		}
		if err := a.store.SwitchToPull(ctx, conv.ID, all); err != nil {
			return repo.Member{}, err
		}
		conv.Fanout = repo.FanoutPull
	case conv.Fanout == repo.FanoutPull:
		if err := a.checkPullRoom(ctx, []int64{target}); err != nil {
			return repo.Member{}, err
		}
	}
	m := repo.Member{ConvID: conv.ID, UserID: target, Role: role, JoinedAt: a.now()}
	out := ConversationOut(conv, len(all), role)
	change, err := a.newChange(conv.ID, repo.EventMemberAdded, target, memberEvent(conv.ID, []int64{target}, me.UserID, out))
	if err != nil {
		return repo.Member{}, err
	}
	if err := a.store.AddMember(ctx, conv.ID, target, role, m.JoinedAt, conv.Fanout, change); err != nil {
		return repo.Member{}, err
	}
	if err := a.sendChange(ctx, *change, all); err != nil {
		return repo.Member{}, err
	}
	return m, nil
}

func (a *App) changeRole(ctx context.Context, conv repo.Conversation, members []repo.Member, me, target repo.Member, role string) (repo.Member, error) {
	if role == "" || role == target.Role {
		return target, nil
	}
	if err := requireRole(me, repo.RoleOwner); err != nil {
		return repo.Member{}, err
	}
	if target.UserID == me.UserID {
		return repo.Member{}, invalid("the owner changes role by making someone else owner")
	}
	if err := a.store.SetRole(ctx, conv.ID, target.UserID, role); err != nil {
		return repo.Member{}, err
	}
	target.Role = role
	changed := []MemberJSON{MemberOut(target)}
	if role == repo.RoleOwner {
		if err := a.store.SetRole(ctx, conv.ID, me.UserID, repo.RoleAdmin); err != nil {
			return repo.Member{}, err
		}
		me.Role = repo.RoleAdmin
		changed = append(changed, MemberOut(me))
	}
	if err := a.emit(ctx, memberIDs(members), EventMemberUpdated, conv.ID, 0,
		map[string]any{"conversation_id": IDString(conv.ID), "members": changed, "by": IDString(me.UserID)}); err != nil {
		return repo.Member{}, err
	}
	return target, nil
}
