package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

type registerRequest struct {
	Handle      string `json:"handle"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
}

// addr is the request's client address, the key of the auth bounds.
func (s *Server) addr(c echo.Context) string {
	return clientAddr(c.Request(), s.cfg.Auth.ClientIPHeader)
}

func (s *Server) register(c echo.Context) error {
	var req registerRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	u, err := s.app.Register(c.Request().Context(), chat.RegisterInput{Handle: req.Handle, Password: req.Password,
		DisplayName: req.DisplayName, Addr: s.addr(c)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"user": privateUser(u)})
}

type loginRequest struct {
	Handle     string `json:"handle"`
	Password   string `json:"password"`
	DeviceName string `json:"device_name"`
	// DeviceID, when set, logs this existing device in again instead of
	// adding one; its earlier token ends.
	DeviceID string `json:"device_id"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      userJSON  `json:"user"`
	DeviceID  string    `json:"device_id"`
}

func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	device, err := wire.OptionalID("device_id", req.DeviceID)
	if err != nil {
		return err
	}
	res, err := s.app.Login(c.Request().Context(), chat.LoginInput{Handle: req.Handle, Password: req.Password,
		DeviceName: req.DeviceName, DeviceID: device, Addr: s.addr(c)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, loginResponse{Token: res.Token, ExpiresAt: res.Session.ExpiresAt.UTC(),
		User: privateUser(res.User), DeviceID: chat.IDString(res.Session.DeviceID)})
}

const sessionKey = "ringchat.session"

// authenticate resolves the bearer token on every call (chat.App.Authenticate)
// and checks a bot token's scopes against the route's (routeScopes).
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.sessionOf(c.Request())
		if err != nil {
			return err
		}
		if err := chat.Allows(sess, scopeOf(c)); err != nil {
			return err
		}
		c.Set(sessionKey, sess)
		return next(c)
	}
}

func (s *Server) sessionOf(r *http.Request) (repo.Session, error) {
	return s.app.Authenticate(r.Context(), bearer(r))
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func session(c echo.Context) repo.Session {
	sess, _ := c.Get(sessionKey).(repo.Session)
	return sess
}

func (s *Server) createTicket(c echo.Context) error {
	ticket, expires, err := s.app.CreateTicket(c.Request().Context(), session(c), bearer(c.Request()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"ticket": ticket, "expires_at": expires})
}
