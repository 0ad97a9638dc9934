package repo

import (
	"context"
	"strings"
	"time"
)

const (
	cqlClaimHandle   = `INSERT INTO users_by_handle (handle, user_id) VALUES (?, ?) IF NOT EXISTS`
	cqlReleaseHandle = `DELETE FROM users_by_handle WHERE handle = ? IF user_id = ?`
	cqlInsertUser    = `INSERT INTO users (user_id, handle, display_name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`
	cqlGetUser       = `SELECT user_id, handle, display_name, phone, avatar_media_id, password_hash, created_at, updated_at FROM users WHERE user_id = ?`
	cqlUserByHandle  = `SELECT user_id FROM users_by_handle WHERE handle = ?`
)

// CreateUser claims u.Handle (ignoring case) and writes the account.
// Returns CodeConflict when the handle is taken; exactly one of several concurrent
// registrations of one handle succeeds (the claim is a lightweight transaction).
func (st *Store) CreateUser(ctx context.Context, u User) error {
	key := strings.ToLower(u.Handle)
	var existing int64
	var existingHandle string
	applied, err := st.raw.Query(cqlClaimHandle, key, u.ID).WithContext(ctx).ScanCAS(&existingHandle, &existing)
	if err != nil {
		return translate("claim handle", err)
	}
	if !applied {
		if existing == u.ID { // our own earlier attempt whose answer was lost: carry on
			applied = true
		} else {
			return Errorf(CodeConflict, "handle %q is taken", u.Handle)
		}
	}
	err = st.query(ctx, cqlInsertUser, u.ID, u.Handle, u.DisplayName, u.PasswordHash, u.CreatedAt, u.UpdatedAt).ExecRelease()
	if err != nil {
		// Give the handle back so a failed registration does not lock it forever.
		relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = st.raw.Query(cqlReleaseHandle, key, u.ID).WithContext(relCtx).Exec()
		return translate("insert user", err)
	}
	return nil
}

// GetUser returns the user or CodeNotFound.
func (st *Store) GetUser(ctx context.Context, id int64) (User, error) {
	var u User
	err := st.query(ctx, cqlGetUser, id).GetRelease(&u)
	if err != nil {
		return User{}, translate("get user", err)
	}
	return u, nil
}

// GetUserByHandle resolves a handle (ignoring case) or returns CodeNotFound.
func (st *Store) GetUserByHandle(ctx context.Context, handle string) (User, error) {
	var id int64
	err := st.raw.Query(cqlUserByHandle, strings.ToLower(handle)).WithContext(ctx).Scan(&id)
	if err != nil {
		return User{}, translate("get user by handle", err)
	}
	u, err := st.GetUser(ctx, id)
	if IsCode(err, CodeNotFound) {
		// A claim whose account row was never written (a crash mid-registration).
		return User{}, Errorf(CodeNotFound, "user not found")
	}
	return u, err
}

// ProfileUpdate lists the profile fields to change; nil means unchanged.
type ProfileUpdate struct {
	DisplayName   *string
	Phone         *string
	AvatarMediaID *int64
}

// UpdateProfile writes only the fields given, so untouched columns get no new cells.
func (st *Store) UpdateProfile(ctx context.Context, id int64, p ProfileUpdate, now time.Time) error {
	sets := []string{"updated_at = ?"}
	args := []any{now}
	if p.DisplayName != nil {
		sets = append(sets, "display_name = ?")
		args = append(args, *p.DisplayName)
	}
	if p.Phone != nil {
		sets = append(sets, "phone = ?")
		args = append(args, *p.Phone)
	}
	if p.AvatarMediaID != nil {
		sets = append(sets, "avatar_media_id = ?")
		args = append(args, *p.AvatarMediaID)
	}
	args = append(args, id)
	// IF EXISTS keeps an update from creating a ghost row for an unknown id.
	stmt := "UPDATE users SET " + strings.Join(sets, ", ") + " WHERE user_id = ? IF EXISTS"
	applied, err := st.query(ctx, stmt, args...).ExecCASRelease()
	if err != nil {
		return translate("update profile", err)
	}
	if !applied {
		return Errorf(CodeNotFound, "user not found")
	}
	return nil
}
