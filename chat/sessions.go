package chat

import (
	"context"
	"strconv"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Ending a session ends its device (one token per device), and with it every
// socket of the device on every node: the same path as revoking a device.

// Authenticate resolves a bearer token to its session. Nothing caches a
// token: a revoked one fails at once.
//
// Codes: unauthenticated (no token, or not a live session's).
func (a *App) Authenticate(ctx context.Context, token string) (repo.Session, error) {
	if token == "" {
		return repo.Session{}, repo.Errorf(repo.CodeUnauthenticated, "missing bearer token")
	}
	return a.store.GetSession(ctx, tokenHash(token))
}

// SessionKey is what binds a socket to the session of token (its hash, all
// the store keeps): SessionLive and the feed of ended sessions know it by it.
func SessionKey(token string) []byte { return tokenHash(token) }

// SessionLive reports whether the session of key is still live; a store
// failure is an error, not an ended session.
func (a *App) SessionLive(ctx context.Context, key []byte) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	_, err := a.store.GetSession(ctx, key)
	if repo.IsCode(err, repo.CodeUnauthenticated) {
		return false, nil
	}
	return err == nil, err
}

// CreateTicket makes a single-use ticket that opens a socket for the session
// of token (me's): for clients that cannot set a header on the upgrade.
func (a *App) CreateTicket(ctx context.Context, me repo.Session, token string) (string, time.Time, error) {
	ticket, hash, err := newToken()
	if err != nil {
		return "", time.Time{}, err
	}
	if err := a.store.CreateTicket(ctx, hash, tokenHash(token), me); err != nil {
		return "", time.Time{}, err
	}
	return ticket, a.now().Add(a.store.Retention().Ticket), nil
}

// RedeemTicket spends a ticket once: the session it opens a socket for, and
// the session's key (nil for a ticket an older node made: no session to bind).
//
// Codes: unauthenticated (unknown, spent or expired).
func (a *App) RedeemTicket(ctx context.Context, ticket string) (repo.Session, []byte, error) {
	return a.store.ConsumeTicket(ctx, tokenHash(ticket))
}

// endDevice retires a device in the store and closes its sockets everywhere.
func (a *App) endDevice(ctx context.Context, userID, deviceID int64, reason string) error {
	err := a.store.RetireDevice(ctx, userID, deviceID)
	// Closed even when the store failed half-way: the token may be gone already.
	a.delivery.EndDevice(userID, deviceID, reason)
	return err
}

// Logout ends the session of token (me's) and its device, sockets included.
func (a *App) Logout(ctx context.Context, me repo.Session, token string) error {
	// This token first, so it is dead even if retiring the device fails.
	if err := a.store.DeleteSession(ctx, me.UserID, tokenHash(token)); err != nil {
		return err
	}
	return a.endDevice(ctx, me.UserID, me.DeviceID, "logged out")
}

// LogoutAll ends every session of the caller, its own included.
func (a *App) LogoutAll(ctx context.Context, me repo.Session) error {
	return a.endDevices(ctx, me.UserID, 0, "logged out everywhere")
}

// endDevices ends every device of the user but keep (0: none).
func (a *App) endDevices(ctx context.Context, userID, keep int64, reason string) error {
	ids, err := a.store.UserDeviceIDs(ctx, userID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id == keep {
			continue
		}
		if err := a.endDevice(ctx, userID, id, reason); err != nil {
			return err
		}
	}
	return nil
}

// ChangePassword sets a new password and ends every other session (and its
// sockets); the caller's own session stays.
//
// Codes: invalid_argument (no current password; the new one's bounds);
// permission_denied (the current password is wrong); rate_limited (the
// user's failed changes); unavailable (the hash pool busy).
func (a *App) ChangePassword(ctx context.Context, me repo.Session, current, next string) error {
	if current == "" {
		return invalid("current_password is required")
	}
	if err := validatePassword(next); err != nil {
		return err
	}
	now := a.now()
	// A stolen token must not become a fast password oracle.
	key := "password|" + strconv.FormatInt(me.UserID, 10)
	// Reserved before hashing (concurrent guesses cannot exceed the budget),
	// given back unless the password was wrong.
	if !a.authLimit.byHandle.take(key, now) {
		return rateLimited("password change")
	}
	u, err := a.store.GetUser(ctx, me.UserID)
	if err != nil {
		a.authLimit.byHandle.refund(key, now)
		return err
	}
	var ok bool
	var hash string
	busy := a.hashes.do(func() {
		if ok = verifyPassword(current, u.PasswordHash); ok {
			hash, err = hashPassword(next, a.cfg.Argon2)
		}
	})
	if busy != nil {
		a.authLimit.byHandle.refund(key, now)
		return busy
	}
	if !ok {
		return repo.Errorf(repo.CodePermissionDenied, "current password is wrong")
	}
	a.authLimit.byHandle.refund(key, now)
	if err != nil {
		return err
	}
	if err := a.store.SetPasswordHash(ctx, u.ID, u.PasswordHash, hash, now); err != nil {
		return err
	}
	return a.endDevices(ctx, u.ID, me.DeviceID, "password changed")
}
