package chat

import (
	"context"
	"strconv"
	"strings"

	"github.com/ringchat/ringchat/repo"
)

// RegisterInput is a new account. Addr is the client's address as the
// adapter reads it (the per-address bounds' key).
type RegisterInput struct {
	Handle, Password, DisplayName string // DisplayName "": the handle
	Addr                          string
}

// Register creates an account.
//
// Codes: invalid_argument (handle, password or display name bounds);
// conflict (the handle is taken); rate_limited (the address's or the
// handle's registrations); unavailable (the hash pool busy, the id lease gone).
func (a *App) Register(ctx context.Context, in RegisterInput) (repo.User, error) {
	if err := validateHandle(in.Handle); err != nil {
		return repo.User{}, err
	}
	if err := validatePassword(in.Password); err != nil {
		return repo.User{}, err
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Handle
	}
	if err := validateText("display_name", in.DisplayName, 1, 64); err != nil {
		return repo.User{}, err
	}
	now := a.now()
	if err := a.authLimit.address(in.Addr, "register", now); err != nil {
		return repo.User{}, err
	}
	if !a.authLimit.byHandle.take("register|"+strings.ToLower(in.Handle), now) {
		return repo.User{}, rateLimited("register")
	}
	var hash string
	var err error
	if busy := a.hashes.do(func() { hash, err = hashPassword(in.Password, a.cfg.Argon2) }); busy != nil {
		return repo.User{}, busy
	}
	if err != nil {
		return repo.User{}, err
	}
	userID, err := a.newID()
	if err != nil {
		return repo.User{}, err
	}
	u := repo.User{ID: userID, Handle: in.Handle, DisplayName: in.DisplayName,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := a.store.CreateUser(ctx, u); err != nil {
		return repo.User{}, err
	}
	return u, nil
}

// LoginInput is one login. DeviceID, when not 0, logs that existing device
// in again instead of adding one; its earlier session ends.
type LoginInput struct {
	Handle, Password, DeviceName string
	DeviceID                     int64
	Addr                         string
}

// LoginResult is a new session: the bearer token (shown once; the store
// keeps its hash), the session and the account.
type LoginResult struct {
	Token   string
	Session repo.Session
	User    repo.User
}

var errWrongPassword = repo.Errorf(repo.CodeUnauthenticated, "wrong handle or password")

// Login checks a password and starts a session for a new or an existing
// device. An unknown handle costs what a wrong password costs (the same
// Argon2 work, the same answer). Per handle only failures count, so an
// owner's own logins never lock them out.
//
// Codes: invalid_argument (no handle or password; the device name's
// bounds); unauthenticated (one message for a wrong password and an
// unknown handle); not_found (DeviceID not a live device of the account);
// rate_limited (the address's attempts, the handle's failures);
// unavailable (the hash pool busy, the id lease gone).
func (a *App) Login(ctx context.Context, in LoginInput) (LoginResult, error) {
	if in.Handle == "" || in.Password == "" {
		return LoginResult{}, invalid("handle and password are required")
	}
	if in.DeviceName != "" {
		if err := validateText("device_name", in.DeviceName, 1, 64); err != nil {
			return LoginResult{}, err
		}
	}
	now := a.now()
	if err := a.authLimit.address(in.Addr, "login", now); err != nil {
		return LoginResult{}, err
	}
	// A failure is reserved before hashing and given back on success.
	refund, err := a.authLimit.loginFailure(in.Addr, in.Handle, now)
	if err != nil {
		return LoginResult{}, err
	}
	u, err := a.store.GetUserByHandle(ctx, in.Handle)
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		refund()
		return LoginResult{}, err
	}
	phc := u.PasswordHash
	if err != nil {
		phc = a.dummyHash
	}
	var ok bool
	if busy := a.hashes.do(func() { ok = verifyPassword(in.Password, phc) }); busy != nil {
		refund()
		return LoginResult{}, busy
	}
	if err != nil || !ok {
		return LoginResult{}, errWrongPassword
	}
	refund()
	return a.startSession(ctx, u, in)
}

// startSession makes the token and the device's session of a checked login.
func (a *App) startSession(ctx context.Context, u repo.User, in LoginInput) (LoginResult, error) {
	token, hash, err := newToken()
	if err != nil {
		return LoginResult{}, err
	}
	now := a.now()
	var sess repo.Session
	if in.DeviceID != 0 {
		// Only the user's own live device: the password is the credential,
		// the id is not; and taking a device over ends its earlier session.
		sess, err = a.store.ResumeDeviceSession(ctx, u.ID, in.DeviceID, in.DeviceName, hash, now)
		if repo.IsCode(err, repo.CodeNotFound) {
			return LoginResult{}, repo.Errorf(repo.CodeNotFound, "device %d is not one of your devices (revoked, logged out or expired): log in without device_id", in.DeviceID)
		}
		if err == nil {
			a.delivery.EndDevice(u.ID, in.DeviceID, "device logged in again")
		}
	} else {
		name := in.DeviceName
		if name == "" {
			name = "unnamed device"
		}
		var deviceID int64
		if deviceID, err = a.newID(); err == nil {
			sess, err = a.store.CreateDeviceSession(ctx, repo.Device{UserID: u.ID, ID: deviceID, Name: name}, hash, now)
		}
	}
	if err != nil {
		return LoginResult{}, err
	}
	// A password change that ran meanwhile may have listed the devices
	// before this one was written: then this login, made with the old
	// password, must not survive it.
	if again, err := a.store.GetUser(ctx, u.ID); err != nil || again.PasswordHash != u.PasswordHash {
		_ = a.endDevice(ctx, u.ID, sess.DeviceID, "password changed")
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errWrongPassword
	}
	return LoginResult{Token: token, Session: sess, User: u}, nil
}

// FindUser looks a user up by handle. Handles are guessable, so how fast one
// address (addr) or one account can probe which exist is bounded.
//
// Codes: invalid_argument (not a handle); not_found (no such user);
// rate_limited (the address's or the caller's look-ups).
func (a *App) FindUser(ctx context.Context, me repo.Session, handle, addr string) (repo.User, error) {
	if err := validateHandle(handle); err != nil {
		return repo.User{}, err
	}
	now := a.now()
	if err := a.authLimit.address(addr, "handle look-up", now); err != nil {
		return repo.User{}, err
	}
	if !a.authLimit.byHandle.take("lookup|"+strconv.FormatInt(me.UserID, 10), now) {
		return repo.User{}, rateLimited("handle look-up")
	}
	return a.store.GetUserByHandle(ctx, handle)
}
