package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func (s *Server) logout(c echo.Context) error {
	if err := s.app.Logout(c.Request().Context(), session(c), bearer(c.Request())); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// logoutAll ends every session of the caller, its own included.
func (s *Server) logoutAll(c echo.Context) error {
	if err := s.app.LogoutAll(c.Request().Context(), session(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword is chat.App.ChangePassword: every other session ends.
func (s *Server) changePassword(c echo.Context) error {
	var req passwordChangeRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.app.ChangePassword(c.Request().Context(), session(c), req.CurrentPassword, req.NewPassword); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type deleteAccountRequest struct {
	Password string `json:"password"`
}

// deleteMe deletes the caller's account (docs/accounts.md): answered once
// it can no longer be used; the rest finishes in the background.
func (s *Server) deleteMe(c echo.Context) error {
	var req deleteAccountRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.app.DeleteAccount(c.Request().Context(), session(c), req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
