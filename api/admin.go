package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// The admin API: the operator's calls, authenticated by --admin-token alone
// (no user's token opens it, and it opens nothing else). Off, every admin
// path answers as an unknown path does (401 without a valid token, else 404).

func (s *Server) adminRoutes() {
	g := s.echo.Group("/v1/admin")
	g.POST("/bots", s.createBot, s.adminOnly)
	g.GET("/bots", s.findBot, s.adminOnly)
	g.POST("/bots/:user_id/tokens", s.issueBotToken, s.adminOnly)
	g.GET("/bots/:user_id/tokens", s.listBotTokens, s.adminOnly)
	g.DELETE("/bots/:user_id/tokens/:device_id", s.revokeBotToken, s.adminOnly)
	g.DELETE("/bots/:user_id", s.deleteBot, s.adminOnly)
}

// deleteBot deletes a bot account as a person deletes theirs (docs/accounts.md).
func (s *Server) deleteBot(c echo.Context) error {
	botID, err := parseID("user id", c.Param("user_id"))
	if err != nil {
		return err
	}
	if err := s.app.DeleteBot(c.Request().Context(), botID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// adminOnly compares the bearer with the admin token in constant time (both
// hashed first, so neither length shows).
func (s *Server) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	return func(c echo.Context) error {
		if s.cfg.AdminToken == "" {
			return echo.ErrNotFound
		}
		got := sha256.Sum256([]byte(bearer(c.Request())))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return repo.Errorf(repo.CodeUnauthenticated, "the admin API needs the admin token")
		}
		return next(c)
	}
}

type botRequest struct {
	Handle      string   `json:"handle"`
	DisplayName string   `json:"display_name"`
	Scopes      []string `json:"scopes"`
	TokenName   string   `json:"token_name"`
}

type botTokenJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	DeviceID  string    `json:"device_id"`
	Scopes    []string  `json:"scopes"`
	User      userJSON  `json:"user"`
}

func botTokenOut(t chat.BotToken) botTokenJSON {
	return botTokenJSON{Token: t.Token, ExpiresAt: t.Session.ExpiresAt.UTC(), DeviceID: chat.IDString(t.Session.DeviceID),
		Scopes: t.Session.Scopes, User: publicUser(t.User)}
}

func (s *Server) createBot(c echo.Context) error {
	var req botRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	t, err := s.app.CreateBot(c.Request().Context(), chat.BotInput{Handle: req.Handle, DisplayName: req.DisplayName,
		Scopes: req.Scopes, TokenName: req.TokenName})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, botTokenOut(t))
}

func (s *Server) issueBotToken(c echo.Context) error {
	botID, err := parseID("user id", c.Param("user_id"))
	if err != nil {
		return err
	}
	var req botRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	t, err := s.app.IssueBotToken(c.Request().Context(), botID, req.Scopes, req.TokenName)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, botTokenOut(t))
}

func (s *Server) revokeBotToken(c echo.Context) error {
	botID, err := parseID("user id", c.Param("user_id"))
	if err != nil {
		return err
	}
	deviceID, err := parseID("device id", c.Param("device_id"))
	if err != nil {
		return err
	}
	if err := s.app.RevokeBotToken(c.Request().Context(), botID, deviceID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) findBot(c echo.Context) error {
	u, err := s.app.FindBot(c.Request().Context(), c.QueryParam("handle"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": publicUser(u)})
}

type botDeviceJSON struct {
	ID        string    `json:"device_id"`
	Name      string    `json:"token_name"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) listBotTokens(c echo.Context) error {
	botID, err := parseID("user id", c.Param("user_id"))
	if err != nil {
		return err
	}
	ds, err := s.app.BotTokens(c.Request().Context(), botID)
	if err != nil {
		return err
	}
	out := make([]botDeviceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, botDeviceJSON{ID: chat.IDString(d.ID), Name: d.Name, CreatedAt: d.CreatedAt.UTC()})
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": out})
}
