package api

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/chat"
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

// group parses a group create's ids into chat's input.
func (r createConversationRequest) group() (chat.GroupInput, error) {
	in := chat.GroupInput{Name: r.Name, ClientGroupID: r.ClientGroupID, MemberIDs: make([]int64, len(r.MemberIDs))}
	for i, raw := range r.MemberIDs {
		id, err := parseID(fmt.Sprintf("member_ids[%d]", i), raw)
		if err != nil {
			return chat.GroupInput{}, err
		}
		in.MemberIDs[i] = id
	}
	var err error
	in.PhotoMediaID, err = wire.OptionalID("photo_media_id", r.PhotoMediaID)
	return in, err
}

// createConversation is chat.App.CreateDirect or chat.App.CreateGroup.
func (s *Server) createConversation(c echo.Context) error {
	var req createConversationRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	ctx, me := c.Request().Context(), session(c)
	var view chat.ConversationView
	var created bool
	switch req.Kind {
	case repo.KindDirect:
		if len(req.MemberIDs) != 1 {
			return invalid("a direct conversation has exactly one other member in member_ids")
		}
		other, err := parseID("member_ids[0]", req.MemberIDs[0])
		if err != nil {
			return err
		}
		if view, created, err = s.app.CreateDirect(ctx, me, other); err != nil {
			return err
		}
	case repo.KindGroup:
		in, err := req.group()
		if err != nil {
			return err
		}
		if view, created, err = s.app.CreateGroup(ctx, me, in); err != nil {
			return err
		}
	default:
		return invalid("kind must be \"direct\" or \"group\"")
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, map[string]any{"conversation": view.JSON()})
}

// convPath reads a conversation route's id.
func convPath(c echo.Context) (int64, error) {
	return parseID("conversation id", c.Param("conv_id"))
}

func (s *Server) getConversation(c echo.Context) error {
	convID, err := convPath(c)
	if err != nil {
		return err
	}
	view, err := s.app.Conversation(c.Request().Context(), session(c), convID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"conversation": view.JSON()})
}
