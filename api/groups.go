package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

func (s *Server) createGroup(c echo.Context, req createConversationRequest) error {
	if err := chat.ValidateText("name", req.Name, 1, 64); err != nil {
		return err
	}
	if req.ClientGroupID != "" && (len(req.ClientGroupID) > 64 || !utf8.ValidString(req.ClientGroupID)) {
		return invalid("client_group_id must be 1-64 bytes")
	}
	me := session(c).UserID
	ctx := c.Request().Context()
	others, err := s.parseUserIDs(ctx, req.MemberIDs, me)
	if err != nil {
		return err
	}
	if len(others)+1 > s.cfg.Groups.MaxMembers {
		return invalid("a group has at most %d members, creator included", s.cfg.Groups.MaxMembers)
	}
	convID, err := s.app.NewID()
	if err != nil {
		return err
	}
	claim := repo.GroupClaim{ConvID: convID, Won: true}
	if req.ClientGroupID != "" { // claimed before the checks: a retry answers with what its first attempt made
		if claim, err = s.store.ClaimGroupCreate(ctx, me, req.ClientGroupID, claim.ConvID); err != nil {
			return err
		}
		if claim.Done {
			return s.existingGroup(c, claim.ConvID)
		}
		if !claim.Won {
			if resumed, err := s.resumeGroupCreate(c, me, req.ClientGroupID, claim.ConvID); resumed || err != nil {
				return err
			}
		}
	}
	for _, other := range others {
		if err := s.app.BlockedBy(ctx, other, me); err != nil {
			return err
		}
	}
	photo, err := s.groupPhoto(ctx, me, req.PhotoMediaID)
	if err != nil {
		return err
	}
	fanout := repo.FanoutPush
	if len(others)+1 > s.cfg.Groups.PushMaxMembers {
		fanout = repo.FanoutPull
	}
	if fanout == repo.FanoutPull {
		if err := s.checkPullRoom(ctx, append([]int64{me}, others...)); err != nil {
			return err
		}
	}
	// Every cell derives from the id and the request, and is written at the
	// id's time: a retry racing its first attempt writes the same rows, and
	// loses to any later change of them.
	conv := repo.Conversation{ID: claim.ConvID, Kind: repo.KindGroup, Name: req.Name, PhotoMediaID: photo,
		CreatedBy: me, CreatedAt: snowflake.Time(claim.ConvID), Fanout: fanout}
	all := append([]int64{me}, others...)
	out := conversationOut(conv, len(all), repo.RoleOwner)
	change, err := s.newChange(conv.ID, repo.EventMemberAdded, me, memberEvent(conv.ID, all, me, out))
	if err != nil {
		return err
	}
	change.ID = conv.ID // one record however often the create is retried
	if err := s.store.CreateGroup(ctx, conv, me, others, fanout, change); err != nil {
		return err
	}
	if err := s.sendChange(ctx, *change, all); err != nil {
		return err
	}
	if req.ClientGroupID != "" {
		if err := s.store.FinishGroupCreate(ctx, me, req.ClientGroupID, conv.ID); err != nil {
			return err
		}
	}
	status := http.StatusCreated
	if !claim.Won {
		status = http.StatusOK
	}
	return c.JSON(status, map[string]any{"conversation": out})
}

// resumeGroupCreate finishes a retried create whose first attempt wrote the
// group but did not finish: the group may have changed since (members left,
// ownership moved, deleted), so the retry rewrites nothing. It sends the
// member.added event if the first attempt did not, marks the key done and
// answers with the group as it is now (404 once deleted). resumed is false
// when the first attempt never got to the group's row: create it then.
func (s *Server) resumeGroupCreate(c echo.Context, me int64, key string, convID int64) (resumed bool, err error) {
	ctx := c.Request().Context()
	exists, deleted, err := s.store.GroupWritten(ctx, convID)
	if err != nil || !exists {
		return false, err
	}
	if !deleted {
		members, err := s.store.ListMembers(ctx, convID)
		if err != nil {
			return true, err
		}
		if _, err := s.repairChanges(ctx, convID, chat.MemberIDs(members)); err != nil {
			return true, err
		}
	}
	if err := s.store.FinishGroupCreate(ctx, me, key, convID); err != nil {
		return true, err
	}
	if deleted {
		return true, repo.Errorf(repo.CodeNotFound, "the group this client_group_id created was deleted")
	}
	return true, s.existingGroup(c, convID)
}

// existingGroup answers a finished create's retry with the group as it is now.
func (s *Server) existingGroup(c echo.Context, convID int64) error {
	conv, members, me, err := s.app.Membership(c.Request().Context(), convID, session(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"conversation": conversationOut(conv, len(members), me.Role)})
}

// checkPullRoom refuses to add users to one more pull-mode group past
// MaxPullGroups: each one costs their every sync a read (docs/chat.md). A group
// switching to pull checks every member, so no one passes the bound.
func (s *Server) checkPullRoom(ctx context.Context, users []int64) error {
	limit := s.cfg.Groups.MaxPullGroups
	if limit <= 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, u := range users {
		g.Go(func() error {
			n, err := s.store.PullGroupCount(gctx, u, limit)
			if err == nil && n >= limit {
				err = repo.Errorf(repo.CodeConflict, "user %d is already in %d large groups, the most allowed; they must leave one first", u, limit)
			}
			return err
		})
	}
	return g.Wait()
}

func memberEvent(convID int64, users []int64, by int64, conv conversationJSON) map[string]any {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = idStr(u)
	}
	return map[string]any{"conversation_id": idStr(convID), "user_ids": ids, "by": idStr(by), "conversation": conv}
}

// parseUserIDs reads member ids, drops the caller and repeats, and checks every user exists.
func (s *Server) parseUserIDs(ctx context.Context, raw []string, me int64) ([]int64, error) {
	if len(raw) > s.cfg.Groups.MaxMembers {
		return nil, invalid("a group has at most %d members, creator included", s.cfg.Groups.MaxMembers)
	}
	var ids []int64
	for i, r := range raw {
		id, err := parseID("member_ids["+strconv.Itoa(i)+"]", r)
		if err != nil {
			return nil, err
		}
		if id != me && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, id := range ids {
		g.Go(func() error {
			if _, err := s.store.GetUser(gctx, id); err != nil {
				if repo.IsCode(err, repo.CodeNotFound) {
					return repo.Errorf(repo.CodeNotFound, "user %d not found", id)
				}
				return err
			}
			return nil
		})
	}
	return ids, g.Wait()
}

func (s *Server) groupPhoto(ctx context.Context, me int64, raw string) (int64, error) {
	if raw == "" {
		return 0, nil
	}
	id, err := parseID("photo_media_id", raw)
	if err != nil {
		return 0, err
	}
	m, err := s.store.GetMedia(ctx, id)
	if repo.IsCode(err, repo.CodeNotFound) || (err == nil && m.OwnerID != me) {
		return 0, invalid("photo_media_id %d is not your media", id)
	}
	if err != nil {
		return 0, err
	}
	if m.Purpose != repo.PurposeGroupPhoto || m.State != repo.MediaReady {
		return 0, invalid("photo_media_id %d must be a completed upload with purpose group_photo", id)
	}
	return id, nil
}

// group loads a group the caller belongs to, with its members.
func (s *Server) group(c echo.Context) (repo.Conversation, []repo.Member, repo.Member, error) {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return repo.Conversation{}, nil, repo.Member{}, err
	}
	return s.app.Membership(c.Request().Context(), convID, session(c).UserID)
}

func requireGroup(conv repo.Conversation) error {
	if conv.Kind != repo.KindGroup {
		return invalid("only groups have this operation")
	}
	return nil
}

func requireRole(me repo.Member, roles ...string) error {
	if !slices.Contains(roles, me.Role) {
		return repo.Errorf(repo.CodePermissionDenied, "your role (%s) may not do this", me.Role)
	}
	return nil
}

type patchGroupRequest struct {
	Name         *string `json:"name"`
	PhotoMediaID *string `json:"photo_media_id"`
	Announcement *string `json:"announcement"`
}

func (s *Server) patchConversation(c echo.Context) error {
	conv, members, me, err := s.group(c)
	if err != nil {
		return err
	}
	var req patchGroupRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := requireGroup(conv); err != nil {
		return err
	}
	if err := requireRole(me, repo.RoleOwner, repo.RoleAdmin); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var upd repo.GroupUpdate
	if req.Name != nil {
		if err := chat.ValidateText("name", *req.Name, 1, 64); err != nil {
			return err
		}
		upd.Name, conv.Name = req.Name, *req.Name
	}
	if req.Announcement != nil {
		if err := chat.ValidateText("announcement", *req.Announcement, 0, 1000); err != nil {
			return err
		}
		upd.Announcement, conv.Announcement = req.Announcement, *req.Announcement
	}
	if req.PhotoMediaID != nil {
		photo, err := s.groupPhoto(ctx, me.UserID, *req.PhotoMediaID)
		if err != nil {
			return err
		}
		upd.PhotoMediaID, conv.PhotoMediaID = &photo, photo
	}
	if err := s.store.UpdateGroup(ctx, conv.ID, upd, s.now()); err != nil {
		return err
	}
	out := conversationOut(conv, len(members), me.Role)
	if err := s.app.Emit(ctx, chat.MemberIDs(members), repo.EventConvUpdated, conv.ID, 0, map[string]any{"conversation": out, "by": idStr(me.UserID)}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"conversation": out})
}

func (s *Server) deleteConversation(c echo.Context) error {
	conv, members, me, err := s.group(c)
	if err != nil {
		return err
	}
	if err := requireGroup(conv); err != nil {
		return err
	}
	if err := requireRole(me, repo.RoleOwner); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.store.DeleteGroup(ctx, conv.ID, chat.MemberIDs(members), s.now()); err != nil {
		return err
	}
	out := conversationOut(conv, 0, "")
	if err := s.app.Emit(ctx, chat.MemberIDs(members), repo.EventConvUpdated, conv.ID, 0, map[string]any{"conversation": out, "deleted": true, "by": idStr(me.UserID)}); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type memberJSON struct {
	UserID   string `json:"user_id"`
	Role     string `json:"role"`
	JoinedAt string `json:"joined_at"`
}

func (s *Server) listMembers(c echo.Context) error {
	_, members, _, err := s.group(c)
	if err != nil {
		return err
	}
	limit, err := s.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	var after int64
	if cur := c.QueryParam("cursor"); cur != "" {
		if after, err = decodeCursor("members", cur); err != nil {
			return err
		}
	}
	out := make([]memberJSON, 0, limit)
	next := ""
	for _, m := range members { // clustered by user id
		if m.UserID <= after {
			continue
		}
		if len(out) == limit {
			next = encodeCursor("members", m.UserID-1)
			break
		}
		out = append(out, memberJSON{UserID: idStr(m.UserID), Role: m.Role, JoinedAt: m.JoinedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")})
	}
	resp := map[string]any{"members": out}
	if next != "" {
		resp["next_cursor"] = next
	}
	return c.JSON(http.StatusOK, resp)
}
