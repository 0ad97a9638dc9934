package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/chat"
)

func (s *Server) getMe(c echo.Context) error {
	u, err := s.app.Me(c.Request().Context(), session(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": privateUser(u)})
}

type patchMeRequest struct {
	DisplayName   *string `json:"display_name"`
	Phone         *string `json:"phone"`
	AvatarMediaID *string `json:"avatar_media_id"`
}

// patchMe is chat.App.UpdateMe; avatar_media_id "" removes the avatar.
func (s *Server) patchMe(c echo.Context) error {
	var req patchMeRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	upd := chat.ProfileUpdate{DisplayName: req.DisplayName, Phone: req.Phone}
	if req.AvatarMediaID != nil {
		id, err := wire.OptionalID("avatar_media_id", *req.AvatarMediaID)
		if err != nil {
			return err
		}
		upd.AvatarMediaID = &id
	}
	u, err := s.app.UpdateMe(c.Request().Context(), session(c), upd)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": privateUser(u)})
}

func (s *Server) getUser(c echo.Context) error {
	id, err := userPath(c)
	if err != nil {
		return err
	}
	u, err := s.app.User(c.Request().Context(), session(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": publicUser(u)})
}

func (s *Server) findUser(c echo.Context) error {
	u, err := s.app.FindUser(c.Request().Context(), session(c), c.QueryParam("handle"), s.addr(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": publicUser(u)})
}

func (s *Server) listDevices(c echo.Context) error {
	sess := session(c)
	ds, err := s.app.Devices(c.Request().Context(), sess)
	if err != nil {
		return err
	}
	out := make([]deviceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceJSON{ID: chat.IDString(d.ID), Name: d.Name, CreatedAt: d.CreatedAt.UTC(),
			LastSeen: d.LastSeen.UTC(), Current: d.ID == sess.DeviceID})
	}
	return c.JSON(http.StatusOK, map[string]any{"devices": out})
}

func (s *Server) revokeDevice(c echo.Context) error {
	id, err := parseID("device_id", c.Param("device_id"))
	if err != nil {
		return err
	}
	if err := s.app.RevokeDevice(c.Request().Context(), session(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
