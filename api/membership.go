package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// EventMemberUpdated tells members that someone's role changed.
const EventMemberUpdated = "member.updated"

type putMemberRequest struct {
	Role string `json:"role"`
}

// putMember adds a member (owner/admin), or changes a member's role (owner).
// Making someone owner transfers ownership: the old owner becomes an admin.
func (s *Server) putMember(c echo.Context) error {
	conv, members, me, err := s.group(c)
	if err != nil {
		return err
	}
	if _, err := s.repairChanges(c.Request().Context(), conv.ID, chat.MemberIDs(members)); err != nil {
		return err
	}
	var req putMemberRequest
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	if err := requireGroup(conv); err != nil {
		return err
	}
	target, err := parseID("user_id", c.Param("user_id"))
	if err != nil {
		return err
	}
	switch req.Role {
	case "", repo.RoleMember, repo.RoleAdmin, repo.RoleOwner:
	default:
		return invalid("role must be owner, admin or member")
	}
	if existing, ok := chat.FindMember(members, target); ok {
		return s.changeRole(c, conv, members, me, existing, req.Role)
	}
	if err := requireRole(me, repo.RoleOwner, repo.RoleAdmin); err != nil {
		return err
	}
	role := repo.RoleMember
	if req.Role == repo.RoleAdmin {
		if err := requireRole(me, repo.RoleOwner); err != nil {
			return err
		}
		role = repo.RoleAdmin
	} else if req.Role == repo.RoleOwner {
		return invalid("add the user first, then transfer ownership")
	}
	if len(members)+1 > s.cfg.Groups.MaxMembers {
		return invalid("the group is full (%d members)", s.cfg.Groups.MaxMembers)
	}
	ctx := c.Request().Context()
	if _, err := s.parseUserIDs(ctx, []string{idStr(target)}, me.UserID); err != nil {
		return err
	}
	if err := s.app.BlockedBy(ctx, target, me.UserID); err != nil {
		return err
	}
	switching := conv.Fanout == repo.FanoutPush && len(members)+1 > s.cfg.Groups.PushMaxMembers
	if switching {
		// The switch makes every member's syncs read this group: each of them,
		// not only the newcomer, must have room under the bound.
		if err := s.checkPullRoom(ctx, append(chat.MemberIDs(members), target)); err != nil {
			return err
		}
	} else if conv.Fanout == repo.FanoutPull {
		if err := s.checkPullRoom(ctx, []int64{target}); err != nil {
			return err
		}
	}
	if switching {
		if err := s.store.SwitchToPull(ctx, conv.ID, append(chat.MemberIDs(members), target)); err != nil {
			return err
		}
		conv.Fanout = repo.FanoutPull
	}
	m := repo.Member{ConvID: conv.ID, UserID: target, Role: role, JoinedAt: s.now()}
	all := append(chat.MemberIDs(members), target)
	out := conversationOut(conv, len(all), role)
	change, err := s.newChange(conv.ID, repo.EventMemberAdded, target, memberEvent(conv.ID, []int64{target}, me.UserID, out))
	if err != nil {
		return err
	}
	if err := s.store.AddMember(ctx, conv.ID, target, role, m.JoinedAt, conv.Fanout, change); err != nil {
		return err
	}
	if err := s.sendChange(ctx, *change, all); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"member": memberOut(m)})
}

func memberOut(m repo.Member) memberJSON {
	return memberJSON{UserID: idStr(m.UserID), Role: m.Role, JoinedAt: m.JoinedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
}

func (s *Server) changeRole(c echo.Context, conv repo.Conversation, members []repo.Member, me, target repo.Member, role string) error {
	if role == "" || role == target.Role {
		return c.JSON(http.StatusOK, map[string]any{"member": memberOut(target)})
	}
	if err := requireRole(me, repo.RoleOwner); err != nil {
		return err
	}
	if target.UserID == me.UserID {
		return invalid("the owner changes role by making someone else owner")
	}
	ctx := c.Request().Context()
	if err := s.store.SetRole(ctx, conv.ID, target.UserID, role); err != nil {
		return err
	}
	changed := []memberJSON{}
	target.Role = role
	changed = append(changed, memberOut(target))
	if role == repo.RoleOwner {
		if err := s.store.SetRole(ctx, conv.ID, me.UserID, repo.RoleAdmin); err != nil {
			return err
		}
		me.Role = repo.RoleAdmin
		changed = append(changed, memberOut(me))
	}
	if err := s.app.Emit(ctx, chat.MemberIDs(members), EventMemberUpdated, conv.ID, 0,
		map[string]any{"conversation_id": idStr(conv.ID), "members": changed, "by": idStr(me.UserID)}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"member": memberOut(target)})
}

// deleteMember removes a member (owner: anyone; admin: plain members) or, on
// oneself, leaves. An owner who leaves hands the group to the longest-standing
// admin, else the longest-standing member; the last member leaving deletes it.
func (s *Server) deleteMember(c echo.Context) error {
	targetID, err := parseID("user_id", c.Param("user_id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	conv, members, me, err := s.group(c)
	if repo.IsCode(err, repo.CodePermissionDenied) && targetID == session(c).UserID {
		return s.retryLeave(c, targetID)
	}
	if err != nil {
		return err
	}
	if err := requireGroup(conv); err != nil {
		return err
	}
	repaired, err := s.repairChanges(ctx, conv.ID, chat.MemberIDs(members))
	if err != nil {
		return err
	}
	target, ok := chat.FindMember(members, targetID)
	if !ok {
		if repairedRemoval(repaired, targetID) {
			return c.NoContent(http.StatusNoContent) // a retry: the first attempt removed them
		}
		return repo.Errorf(repo.CodeNotFound, "user %d is not a member", targetID)
	}
	if targetID != me.UserID {
		allowed := me.Role == repo.RoleOwner || (me.Role == repo.RoleAdmin && target.Role == repo.RoleMember)
		if !allowed {
			return repo.Errorf(repo.CodePermissionDenied, "your role (%s) may not remove a %s", me.Role, target.Role)
		}
	} else if me.Role == repo.RoleOwner {
		if len(members) == 1 {
			if err := s.store.DeleteGroup(ctx, conv.ID, []int64{me.UserID}, s.now()); err != nil {
				return err
			}
			return c.NoContent(http.StatusNoContent)
		}
		heir := successor(members, me.UserID)
		if err := s.store.SetRole(ctx, conv.ID, heir.UserID, repo.RoleOwner); err != nil {
			return err
		}
		heir.Role = repo.RoleOwner
		if err := s.app.Emit(ctx, chat.MemberIDs(members), EventMemberUpdated, conv.ID, 0,
			map[string]any{"conversation_id": idStr(conv.ID), "members": []memberJSON{memberOut(heir)}, "by": idStr(me.UserID)}); err != nil {
			return err
		}
	}
	// Remove first, then tell everyone (the removed member included): from here
	// on nothing new is written to their inbox or pushed to their sockets.
	out := conversationOut(conv, len(members)-1, "")
	change, err := s.newChange(conv.ID, repo.EventMemberRemoved, targetID, memberEvent(conv.ID, []int64{targetID}, me.UserID, out))
	if err != nil {
		return err
	}
	if err := s.store.RemoveMember(ctx, conv.ID, targetID, change); err != nil {
		return err
	}
	if err := s.sendChange(ctx, *change, chat.MemberIDs(members)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// retryLeave answers a member's retried leave: no longer a member, they may
// still send the event their first attempt stored but did not send.
func (s *Server) retryLeave(c echo.Context, me int64) error {
	ctx := c.Request().Context()
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	_, members, err := s.app.ConversationAndMembers(ctx, convID)
	if err != nil {
		return err
	}
	repaired, err := s.repairChanges(ctx, convID, chat.MemberIDs(members))
	if err != nil {
		return err
	}
	if repairedRemoval(repaired, me) {
		return c.NoContent(http.StatusNoContent)
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
