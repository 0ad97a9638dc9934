package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/chat"
)

type patchGroupRequest struct {
	Name         *string `json:"name"`
	PhotoMediaID *string `json:"photo_media_id"`
	Announcement *string `json:"announcement"`
}

// patchConversation is chat.App.UpdateGroup; photo_media_id "" removes the photo.
func (s *Server) patchConversation(c echo.Context) error {
	convID, err := convPath(c)
	if err != nil {
		return err
	}
	var req patchGroupRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	upd := chat.GroupUpdate{Name: req.Name, Announcement: req.Announcement}
	if req.PhotoMediaID != nil {
		photo, err := wire.OptionalID("photo_media_id", *req.PhotoMediaID)
		if err != nil {
			return err
		}
		upd.PhotoMediaID = &photo
	}
	view, err := s.app.UpdateGroup(c.Request().Context(), session(c), convID, upd)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"conversation": view.JSON()})
}

func (s *Server) deleteConversation(c echo.Context) error {
	convID, err := convPath(c)
	if err != nil {
		return err
	}
	if err := s.app.DeleteGroup(c.Request().Context(), session(c), convID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listMembers pages a conversation's members by user id.
func (s *Server) listMembers(c echo.Context) error {
	convID, err := convPath(c)
	if err != nil {
		return err
	}
	members, err := s.app.Members(c.Request().Context(), session(c), convID)
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
	out := make([]chat.MemberJSON, 0, limit)
	next := ""
	for _, m := range members { // clustered by user id
		if m.UserID <= after {
			continue
		}
		if len(out) == limit {
			next = encodeCursor("members", m.UserID-1)
			break
		}
		out = append(out, chat.MemberOut(m))
	}
	resp := map[string]any{"members": out}
	if next != "" {
		resp["next_cursor"] = next
	}
	return c.JSON(http.StatusOK, resp)
}
