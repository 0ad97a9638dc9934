package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
)

type registerRequest struct {
	Handle      string `json:"handle"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
}

func (s *Server) register(c echo.Context) error {
	var req registerRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := validateHandle(req.Handle); err != nil {
		return err
	}
	if err := validatePassword(req.Password); err != nil {
		return err
	}
	if req.DisplayName == "" {
		req.DisplayName = req.Handle
	}
	if err := validateText("display_name", req.DisplayName, 1, 64); err != nil {
		return err
	}
	hash, err := hashPassword(req.Password, s.cfg.Argon2)
	if err != nil {
		return err
	}
	now := s.now()
	u := repo.User{ID: s.ids.Next(), Handle: req.Handle, DisplayName: req.DisplayName,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(c.Request().Context(), u); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"user": privateUser(u)})
}

type loginRequest struct {
	Handle     string `json:"handle"`
	Password   string `json:"password"`
	DeviceName string `json:"device_name"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      userJSON  `json:"user"`
	DeviceID  string    `json:"device_id"`
}

// dummyHash makes a failed lookup cost as much as a failed password check,
// so response times do not reveal which handles exist.
var dummyHash, _ = hashPassword("not-a-real-password", DefaultArgon2)

func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Handle == "" || req.Password == "" {
		return invalid("handle and password are required")
	}
	if req.DeviceName == "" {
		req.DeviceName = "unnamed device"
	}
	if err := validateText("device_name", req.DeviceName, 1, 64); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := s.store.GetUserByHandle(ctx, req.Handle)
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return err
	}
	if err != nil {
		verifyPassword(req.Password, dummyHash)
		return repo.Errorf(repo.CodeUnauthenticated, "wrong handle or password")
	}
	if !verifyPassword(req.Password, u.PasswordHash) {
		return repo.Errorf(repo.CodeUnauthenticated, "wrong handle or password")
	}
	token, hash, err := newToken()
	if err != nil {
		return err
	}
	dev := repo.Device{UserID: u.ID, ID: s.ids.Next(), Name: req.DeviceName}
	sess, err := s.store.CreateDeviceSession(ctx, dev, hash, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, loginResponse{Token: token, ExpiresAt: sess.ExpiresAt.UTC(),
		User: privateUser(u), DeviceID: idStr(dev.ID)})
}

func (s *Server) logout(c echo.Context) error {
	if err := s.store.DeleteSession(c.Request().Context(), tokenHash(bearer(c.Request()))); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

const sessionKey = "ringchat.session"

// authenticate resolves the bearer token on every call; a revoked token stops
// working at once because nothing caches it.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.sessionOf(c.Request())
		if err != nil {
			return err
		}
		c.Set(sessionKey, sess)
		return next(c)
	}
}

func (s *Server) sessionOf(r *http.Request) (repo.Session, error) {
	token := bearer(r)
	if token == "" {
		return repo.Session{}, repo.Errorf(repo.CodeUnauthenticated, "missing bearer token")
	}
	return s.store.GetSession(r.Context(), tokenHash(token))
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
	ticket, hash, err := newToken()
	if err != nil {
		return err
	}
	if err := s.store.CreateTicket(c.Request().Context(), hash, session(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"ticket": ticket,
		"expires_at": s.now().Add(s.store.Retention().Ticket)})
}
