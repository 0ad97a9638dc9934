package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
)

type createConversationRequest struct {
	Kind         string   `json:"kind"`
	MemberIDs    []string `json:"member_ids"`
	Name         string   `json:"name"`
	PhotoMediaID string   `json:"photo_media_id"`
	// ClientGroupID makes a group create idempotent: a retry with the same
	// key returns the same group (groups only; optional).
	ClientGroupID string `json:"client_group_id"`
}

func (s *Server) createConversation(c echo.Context) error {
	var req createConversationRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	me := session(c).UserID
	switch req.Kind {
	case repo.KindDirect:
	case repo.KindGroup:
		return s.createGroup(c, req)
	default:
		return invalid("kind must be \"direct\" or \"group\"")
	}
	if len(req.MemberIDs) != 1 {
		return invalid("a direct conversation has exactly one other member in member_ids")
	}
	other, err := parseID("member_ids[0]", req.MemberIDs[0])
	if err != nil {
		return err
	}
	if other == me {
		return invalid("a direct conversation needs another user")
	}
	ctx := c.Request().Context()
	if _, err := s.store.GetUser(ctx, other); err != nil {
		if repo.IsCode(err, repo.CodeNotFound) {
			return repo.Errorf(repo.CodeNotFound, "user %d not found", other)
		}
		return err
	}
	if err := s.app.BlockedBy(ctx, other, me); err != nil {
		return err
	}
	newID, err := s.app.NewID()
	if err != nil {
		return err
	}
	conv, created, err := s.store.GetOrCreateDirect(ctx, me, other, newID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, map[string]any{"conversation": conversationOut(conv, 2, repo.RoleMember)})
}

func conversationOut(conv repo.Conversation, members int, role string) conversationJSON {
	return conversationJSON{ID: idStr(conv.ID), Kind: conv.Kind, Name: conv.Name,
		PhotoMediaID: optID(conv.PhotoMediaID), Announcement: conv.Announcement,
		CreatedAt: conv.CreatedAt.UTC(), MemberCount: members, MyRole: role}
}

func (s *Server) getConversation(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	conv, members, me, err := s.app.Membership(c.Request().Context(), convID, session(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"conversation": conversationOut(conv, len(members), me.Role)})
}
