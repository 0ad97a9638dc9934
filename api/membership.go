package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
)

// memberPath reads a member route's conversation and user ids.
func memberPath(c echo.Context) (convID, userID int64, err error) {
	if convID, err = convPath(c); err != nil {
		return 0, 0, err
	}
	userID, err = parseID("user_id", c.Param("user_id"))
	return convID, userID, err
}

type putMemberRequest struct {
	Role string `json:"role"`
}

// putMember is chat.App.PutMember: add a member, or change one's role.
func (s *Server) putMember(c echo.Context) error {
	convID, target, err := memberPath(c)
	if err != nil {
		return err
	}
	var req putMemberRequest
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			return err
		}
	}
	m, err := s.app.PutMember(c.Request().Context(), session(c), convID, target, req.Role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"member": chat.MemberOut(m)})
}

// deleteMember is chat.App.RemoveMember: remove a member, or leave.
func (s *Server) deleteMember(c echo.Context) error {
	convID, target, err := memberPath(c)
	if err != nil {
		return err
	}
	if err := s.app.RemoveMember(c.Request().Context(), session(c), convID, target); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
