package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// Ending a session ends its device (one token per device), and with it every
// socket of the device on every node: the same path as revoking a device.

// endDevice retires a device in the store and closes its sockets everywhere.
func (s *Server) endDevice(ctx context.Context, userID, deviceID int64, reason string) error {
	err := s.store.RetireDevice(ctx, userID, deviceID)
	// Closed even when the store failed half-way: the token may be gone already.
	s.delivery.EndDevice(userID, deviceID, reason)
	return err
}

func (s *Server) logout(c echo.Context) error {
	ctx := c.Request().Context()
	sess := session(c)
	// This token first, so it is dead even if retiring the device fails.
	if err := s.store.DeleteSession(ctx, sess.UserID, chat.TokenHash(bearer(c.Request()))); err != nil {
		return err
	}
	if err := s.endDevice(ctx, sess.UserID, sess.DeviceID, "logged out"); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// logoutAll ends every session of the caller, its own included.
func (s *Server) logoutAll(c echo.Context) error {
	if err := s.endDevices(c.Request().Context(), session(c).UserID, 0, "logged out everywhere"); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// endDevices ends every device of the user but keep (0: none).
func (s *Server) endDevices(ctx context.Context, userID, keep int64, reason string) error {
	ids, err := s.store.UserDeviceIDs(ctx, userID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id == keep {
			continue
		}
		if err := s.endDevice(ctx, userID, id, reason); err != nil {
			return err
		}
	}
	return nil
}

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword sets a new password and ends every other session (and its
// sockets); the caller's own session stays.
func (s *Server) changePassword(c echo.Context) error {
	var req passwordChangeRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.CurrentPassword == "" {
		return invalid("current_password is required")
	}
	if err := chat.ValidatePassword(req.NewPassword); err != nil {
		return err
	}
	sess, now := session(c), s.now()
	// A stolen token must not become a fast password oracle.
	key := "password|" + strconv.FormatInt(sess.UserID, 10)
	// Reserved before hashing (concurrent guesses cannot exceed the budget),
	// given back unless the password was wrong.
	if !s.authLimit.byHandle.take(key, now) {
		return rateLimited("password change")
	}
	ctx := c.Request().Context()
	u, err := s.store.GetUser(ctx, sess.UserID)
	if err != nil {
		s.authLimit.byHandle.refund(key, now)
		return err
	}
	var ok bool
	var hash string
	busy := s.hashes.do(func() {
		if ok = chat.VerifyPassword(req.CurrentPassword, u.PasswordHash); ok {
			hash, err = chat.HashPassword(req.NewPassword, s.cfg.Argon2)
		}
	})
	if busy != nil {
		s.authLimit.byHandle.refund(key, now)
		return busy
	}
	if !ok {
		return repo.Errorf(repo.CodePermissionDenied, "current password is wrong")
	}
	s.authLimit.byHandle.refund(key, now)
	if err != nil {
		return err
	}
	if err := s.store.SetPasswordHash(ctx, u.ID, u.PasswordHash, hash, now); err != nil {
		return err
	}
	if err := s.endDevices(ctx, u.ID, sess.DeviceID, "password changed"); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
