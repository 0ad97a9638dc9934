package chat

import (
	"context"

	"github.com/ringchat/ringchat/repo"
)

// Me is the caller's own account, phone included.
func (a *App) Me(ctx context.Context, me repo.Session) (repo.User, error) {
	return a.store.GetUser(ctx, me.UserID)
}

// ProfileUpdate changes the caller's profile: nil fields stay; an empty
// Phone clears it, an AvatarMediaID of 0 removes the avatar.
type ProfileUpdate struct {
	DisplayName   *string
	Phone         *string
	AvatarMediaID *int64
}

// UpdateMe changes the caller's profile and returns it as it is now.
//
// Codes: invalid_argument (a field's bounds; a phone not in E.164; the
// avatar not a ready avatar upload of the caller).
func (a *App) UpdateMe(ctx context.Context, me repo.Session, upd ProfileUpdate) (repo.User, error) {
	var change repo.ProfileUpdate
	if upd.DisplayName != nil {
		if err := validateText("display_name", *upd.DisplayName, 1, 64); err != nil {
			return repo.User{}, err
		}
		change.DisplayName = upd.DisplayName
	}
	if upd.Phone != nil {
		if err := validatePhone(*upd.Phone); err != nil {
			return repo.User{}, err
		}
		change.Phone = upd.Phone
	}
	if upd.AvatarMediaID != nil {
		if err := a.checkOwnMedia(ctx, me.UserID, *upd.AvatarMediaID, "avatar_media_id", repo.PurposeAvatar); err != nil {
			return repo.User{}, err
		}
		change.AvatarMediaID = upd.AvatarMediaID
	}
	if err := a.store.UpdateProfile(ctx, me.UserID, change, a.now()); err != nil {
		return repo.User{}, err
	}
	return a.store.GetUser(ctx, me.UserID)
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

// User is another user's public profile.
//
// Codes: not_found (no such user).
func (a *App) User(ctx context.Context, _ repo.Session, id int64) (repo.User, error) {
	return a.store.GetUser(ctx, id)
}

// Devices lists the caller's devices.
func (a *App) Devices(ctx context.Context, me repo.Session) ([]repo.Device, error) {
	return a.store.ListDevices(ctx, me.UserID)
}

// RevokeDevice ends one of the caller's devices: its token stops working and
// its sockets close on every node (1008), even if the revoke failed half-way.
//
// Codes: not_found (no such device of the caller).
func (a *App) RevokeDevice(ctx context.Context, me repo.Session, deviceID int64) error {
	err := a.store.RevokeDevice(ctx, me.UserID, deviceID)
	if !repo.IsCode(err, repo.CodeNotFound) { // closed even if half-revoked
		a.delivery.EndDevice(me.UserID, deviceID, "device revoked")
	}
	return err
}
