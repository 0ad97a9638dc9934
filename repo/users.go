package repo

import (
	"context"
	"strings"
	"time"
)

const (
	cqlClaimHandle   = `INSERT INTO users_by_handle (handle, user_id) VALUES (?, ?) IF NOT EXISTS`
	cqlClaimOf       = `SELECT user_id, WRITETIME(user_id) FROM users_by_handle WHERE handle = ?`
	cqlRetakeHandle  = `UPDATE users_by_handle SET user_id = ? WHERE handle = ? IF user_id = ?`
	cqlReleaseHandle = `DELETE FROM users_by_handle WHERE handle = ? IF user_id = ?`
	cqlInsertUser    = `INSERT INTO users (user_id, handle, display_name, password_hash, created_at, updated_at, bot) VALUES (?, ?, ?, ?, ?, ?, ?)`
	cqlGetUser       = `SELECT user_id, handle, display_name, phone, avatar_media_id, password_hash, created_at, updated_at, bot, deleted_at FROM users WHERE user_id = ?`
	cqlUserByHandle  = `SELECT user_id FROM users_by_handle WHERE handle = ?`
	cqlSetPassword   = `UPDATE users SET password_hash = ?, updated_at = ? WHERE user_id = ? IF password_hash = ?`
)

// CreateUser claims u.Handle (ignoring case) and writes the account.
// Returns CodeConflict when the handle is taken; exactly one of several concurrent
// registrations of one handle succeeds (the claim is a lightweight transaction).
//
// A claim whose account row was never written (the claim timed out, or chatd
// died between the two writes) would hold the handle forever. Such a claim is
// abandoned once it is older than Retention.HandleClaim, and a registration
// takes it over (IF user_id = the old claimant, so only one does); a younger
// one answers CodeUnavailable, so the client retries rather than giving up.
func (st *Store) CreateUser(ctx context.Context, u User) error {
	key := strings.ToLower(u.Handle)
	if err := st.claimHandle(ctx, key, u.ID, u.CreatedAt); err != nil {
		return err
	}
	err := st.query(ctx, cqlInsertUser, u.ID, u.Handle, u.DisplayName, u.PasswordHash, u.CreatedAt, u.UpdatedAt, u.Bot).ExecRelease()
	if err != nil {
		// Give the handle back so a failed registration does not hold it
		// (if this fails too, the claim is abandoned after HandleClaim).
		relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = st.lwt(relCtx, acrossDCs, cqlReleaseHandle, key, u.ID).Exec()
		return translate("insert user", err)
	}
	return nil
}

// claimHandle makes key userID's, taking over an abandoned claim; a few
// rounds at most, since each lost round means another registration won one.
func (st *Store) claimHandle(ctx context.Context, key string, userID int64, now time.Time) error {
	for range 3 {
		row := map[string]any{}
		applied, err := st.lwt(ctx, acrossDCs, cqlClaimHandle, key, userID).MapScanCAS(row)
		if err != nil {
			return translate("claim handle", err)
		}
		holder := casInt64(row, "user_id")
		if applied || holder == userID { // ours, perhaps from an attempt whose answer was lost
			return nil
		}
		var claimedMicros int64
		err = st.rawQuery(ctx, cqlClaimOf, key).Scan(&holder, &claimedMicros)
		if IsCode(translate("", err), CodeNotFound) {
			continue // released meanwhile: claim again
		}
		if err != nil {
			return translate("read handle claim", err)
		}
		if u, err := st.GetUser(ctx, holder); err == nil {
			// A deleted account's handle is free once held long enough
			// and its profile emptied (its deletion under way past that).
			if !u.Deleted() || u.Handle != "" || now.Sub(u.DeletedAt) < st.retention.HandleHold {
				return Errorf(CodeConflict, "handle %q is taken", key)
			}
		} else if !IsCode(err, CodeNotFound) {
			return err
		} else if now.Sub(time.UnixMicro(claimedMicros)) < st.retention.HandleClaim {
			return Errorf(CodeUnavailable, "handle %q is being registered: retry shortly", key)
		}
		applied, err = st.lwt(ctx, acrossDCs, cqlRetakeHandle, userID, key, holder).MapScanCAS(map[string]any{})
		if err != nil {
			return translate("take over abandoned handle claim", err)
		}
		if applied {
			return nil
		}
	}
	return Errorf(CodeUnavailable, "handle %q is being registered: retry shortly", key)
}

// SetPasswordHash replaces the user's password hash if it is still was (the
// one the caller verified), so two concurrent changes cannot both win;
// CodeConflict when it changed meanwhile.
func (st *Store) SetPasswordHash(ctx context.Context, userID int64, was, hash string, now time.Time) error {
	applied, err := st.lwt(ctx, acrossDCs, cqlSetPassword, hash, now, userID, was).MapScanCAS(map[string]any{})
	if err != nil {
		return translate("set password", err)
	}
	if !applied {
		return Errorf(CodeConflict, "the password changed meanwhile: try again")
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
	err := st.rawQuery(ctx, cqlUserByHandle, strings.ToLower(handle)).Scan(&id)
	if err != nil {
		return User{}, translate("get user by handle", err)
	}
	u, err := st.GetUser(ctx, id)
	if IsCode(err, CodeNotFound) || err == nil && u.Deleted() {
		// A claim whose account row was never written (a crash
		// mid-registration), or a deleted account's handle, held a while.
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
	applied, err := st.lwtx(ctx, withinDC, stmt, args...).ExecCASRelease()
	if err != nil {
		return translate("update profile", err)
	}
	if !applied {
		return Errorf(CodeNotFound, "user not found")
	}
	return nil
}
