package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

func (s *Server) getMe(c echo.Context) error {
	u, err := s.store.GetUser(c.Request().Context(), session(c).UserID)
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

func (s *Server) patchMe(c echo.Context) error {
	var req patchMeRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	var upd repo.ProfileUpdate
	if req.DisplayName != nil {
		if err := chat.ValidateText("display_name", *req.DisplayName, 1, 64); err != nil {
			return err
		}
		upd.DisplayName = req.DisplayName
	}
	if req.Phone != nil {
		if err := validatePhone(*req.Phone); err != nil {
			return err
		}
		upd.Phone = req.Phone
	}
	ctx := c.Request().Context()
	uid := session(c).UserID
	if req.AvatarMediaID != nil {
		id, err := s.avatarMedia(ctx, uid, *req.AvatarMediaID)
		if err != nil {
			return err
		}
		upd.AvatarMediaID = &id
	}
	if err := s.store.UpdateProfile(ctx, uid, upd, s.now()); err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, uid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": privateUser(u)})
}

func validatePhone(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > 20 || p[0] != '+' {
		return invalid("phone must be in E.164 form, like +15551234567")
	}
	for _, r := range p[1:] {
		if r < '0' || r > '9' {
			return invalid("phone must be in E.164 form, like +15551234567")
		}
	}
	return nil
}

func (s *Server) getUser(c echo.Context) error {
	id, err := parseID("user_id", c.Param("user_id"))
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": publicUser(u)})
}

func (s *Server) findUser(c echo.Context) error {
	h := c.QueryParam("handle")
	if err := chat.ValidateHandle(h); err != nil {
		return err
	}
	// Handles are guessable: bound how fast one address or one account can
	// probe which exist.
	now := s.now()
	if err := s.authLimit.address(c.Request(), "handle look-up", now); err != nil {
		return err
	}
	if !s.authLimit.byHandle.take("lookup|"+strconv.FormatInt(session(c).UserID, 10), now) {
		return rateLimited("handle look-up")
	}
	u, err := s.store.GetUserByHandle(c.Request().Context(), h)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": publicUser(u)})
}

func (s *Server) listDevices(c echo.Context) error {
	sess := session(c)
	ds, err := s.store.ListDevices(c.Request().Context(), sess.UserID)
	if err != nil {
		return err
	}
	out := make([]deviceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceJSON{ID: idStr(d.ID), Name: d.Name, CreatedAt: d.CreatedAt.UTC(),
			LastSeen: d.LastSeen.UTC(), Current: d.ID == sess.DeviceID})
	}
	return c.JSON(http.StatusOK, map[string]any{"devices": out})
}

func (s *Server) revokeDevice(c echo.Context) error {
	id, err := parseID("device_id", c.Param("device_id"))
	if err != nil {
		return err
	}
	uid := session(c).UserID
	err = s.store.RevokeDevice(c.Request().Context(), uid, id)
	if !repo.IsCode(err, repo.CodeNotFound) { // closed even if half-revoked
		s.delivery.EndDevice(uid, id, "device revoked")
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// avatarMedia checks that raw names the caller's own ready avatar; "" clears it.
func (s *Server) avatarMedia(ctx context.Context, uid int64, raw string) (int64, error) {
	if raw == "" {
		return 0, nil
	}
	id, err := parseID("avatar_media_id", raw)
	if err != nil {
		return 0, err
	}
	m, err := s.store.GetMedia(ctx, id)
	if repo.IsCode(err, repo.CodeNotFound) || (err == nil && m.OwnerID != uid) {
		return 0, invalid("avatar_media_id %d is not your media", id)
	}
	if err != nil {
		return 0, err
	}
	if m.Purpose != repo.PurposeAvatar || m.State != repo.MediaReady {
		return 0, invalid("avatar_media_id %d must be a completed upload with purpose avatar", id)
	}
	return id, nil
}
