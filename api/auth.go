package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
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
	if err := chat.ValidateHandle(req.Handle); err != nil {
		return err
	}
	if err := chat.ValidatePassword(req.Password); err != nil {
		return err
	}
	if req.DisplayName == "" {
		req.DisplayName = req.Handle
	}
	if err := chat.ValidateText("display_name", req.DisplayName, 1, 64); err != nil {
		return err
	}
	now := s.now()
	if err := s.authLimit.address(c.Request(), "register", now); err != nil {
		return err
	}
	if !s.authLimit.byHandle.take("register|"+strings.ToLower(req.Handle), now) {
		return rateLimited("register")
	}
	var hash string
	var err error
	if busy := s.hashes.do(func() { hash, err = chat.HashPassword(req.Password, s.cfg.Argon2) }); busy != nil {
		return busy
	}
	if err != nil {
		return err
	}
	userID, err := s.app.NewID()
	if err != nil {
		return err
	}
	u := repo.User{ID: userID, Handle: req.Handle, DisplayName: req.DisplayName,
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

var errWrongPassword = repo.Errorf(repo.CodeUnauthenticated, "wrong handle or password")

func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Handle == "" || req.Password == "" {
		return invalid("handle and password are required")
	}
	if req.DeviceName != "" {
		if err := chat.ValidateText("device_name", req.DeviceName, 1, 64); err != nil {
			return err
		}
	}
	var resume int64
	if req.DeviceID != "" {
		id, err := parseID("device_id", req.DeviceID)
		if err != nil {
			return err
		}
		resume = id
	}
	now := s.now()
	if err := s.authLimit.address(c.Request(), "login", now); err != nil {
		return err
	}
	// Per handle only failures count, so an owner's own logins never do: a
	// failure is reserved before hashing and given back on success.
	refund, err := s.authLimit.loginFailure(c.Request(), req.Handle, now)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := s.store.GetUserByHandle(ctx, req.Handle)
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		refund()
		return err
	}
	phc := u.PasswordHash
	if err != nil {
		phc = s.dummyHash
	}
	var ok bool
	if busy := s.hashes.do(func() { ok = chat.VerifyPassword(req.Password, phc) }); busy != nil {
		refund()
		return busy
	}
	if err != nil || !ok {
		return errWrongPassword
	}
	refund()
	token, hash, err := chat.NewToken()
	if err != nil {
		return err
	}
	var sess repo.Session
	if resume != 0 {
		// Only the user's own live device: the password is the credential,
		// the id is not; and taking a device over ends its earlier session.
		sess, err = s.store.ResumeDeviceSession(ctx, u.ID, resume, req.DeviceName, hash, now)
		if repo.IsCode(err, repo.CodeNotFound) {
			return repo.Errorf(repo.CodeNotFound, "device %d is not one of your devices (revoked, logged out or expired): log in without device_id", resume)
		}
		if err == nil {
			s.delivery.EndDevice(u.ID, resume, "device logged in again")
		}
	} else {
		if req.DeviceName == "" {
			req.DeviceName = "unnamed device"
		}
		var deviceID int64
		if deviceID, err = s.app.NewID(); err == nil {
			sess, err = s.store.CreateDeviceSession(ctx, repo.Device{UserID: u.ID, ID: deviceID, Name: req.DeviceName}, hash, now)
		}
	}
	if err != nil {
		return err
	}
	// A password change that ran meanwhile may have listed the devices
	// before this one was written: then this login, made with the old
	// password, must not survive it.
	if again, err := s.store.GetUser(ctx, u.ID); err != nil || again.PasswordHash != u.PasswordHash {
		s.endDevice(ctx, u.ID, sess.DeviceID, "password changed")
		if err != nil {
			return err
		}
		return errWrongPassword
	}
	return c.JSON(http.StatusOK, loginResponse{Token: token, ExpiresAt: sess.ExpiresAt.UTC(),
		User: privateUser(u), DeviceID: idStr(sess.DeviceID)})
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
	return s.store.GetSession(r.Context(), chat.TokenHash(token))
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
	ticket, hash, err := chat.NewToken()
	if err != nil {
		return err
	}
	if err := s.store.CreateTicket(c.Request().Context(), hash, chat.TokenHash(bearer(c.Request())), session(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"ticket": ticket,
		"expires_at": s.now().Add(s.store.Retention().Ticket)})
}
