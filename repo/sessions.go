package repo

import (
	"bytes"
	"context"
	"time"

	"github.com/gocql/gocql"
)

const (
	cqlInsertSession = `INSERT INTO sessions (token_hash, user_id, device_id, created_at, expires_at, scopes) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?`
	cqlIndexSession  = `INSERT INTO sessions_by_device (user_id, device_id, token_hash) VALUES (?, ?, ?) USING TTL ?`
	cqlGetSession    = `SELECT user_id, device_id, created_at, expires_at, scopes FROM sessions WHERE token_hash = ?`
	cqlDeleteSession = `DELETE FROM sessions WHERE token_hash = ?`
	cqlDeviceTokens  = `SELECT token_hash FROM sessions_by_device WHERE user_id = ? AND device_id = ?`
	cqlDeviceTokensN = `SELECT token_hash FROM sessions_by_device WHERE user_id = ? AND device_id = ? LIMIT ?`
	cqlUnindexToken  = `DELETE FROM sessions_by_device WHERE user_id = ? AND device_id = ? AND token_hash = ?`
	cqlUserTokens    = `SELECT device_id, token_hash FROM sessions_by_device WHERE user_id = ? LIMIT ?`
	cqlUnindexDevice = `DELETE FROM sessions_by_device WHERE user_id = ? AND device_id = ?`
	// A device row lives as long as the session its login made: a device
	// that is never logged in again drops out of the cap by itself.
	cqlInsertDevice = `INSERT INTO devices_by_user (user_id, device_id, name, created_at, last_seen) VALUES (?, ?, ?, ?, ?) USING TTL ?`
	// Written 1 µs past the row's newest cell (ResumeDeviceSession says why).
	// created_at is rewritten too, or it would expire with the first login's TTL.
	cqlRenewDevice  = `UPDATE devices_by_user USING TTL ? AND TIMESTAMP ? SET name = ?, created_at = ?, last_seen = ? WHERE user_id = ? AND device_id = ?`
	cqlDeviceStamp  = `SELECT user_id, device_id, name, created_at, last_seen, WRITETIME(name), WRITETIME(created_at), WRITETIME(last_seen) FROM devices_by_user WHERE user_id = ? AND device_id = ?`
	cqlListDevices  = `SELECT user_id, device_id, name, created_at, last_seen FROM devices_by_user WHERE user_id = ? LIMIT ?`
	cqlGetDevice    = `SELECT user_id, device_id, name, created_at, last_seen FROM devices_by_user WHERE user_id = ? AND device_id = ?`
	cqlDeleteDevice = `DELETE FROM devices_by_user WHERE user_id = ? AND device_id = ?`
	cqlCountDevices = `SELECT COUNT(*) FROM devices_by_user WHERE user_id = ?`
)

// MaxDevicesPerUser bounds devices_by_user partitions and the fan-out per user.
const MaxDevicesPerUser = 100

// deviceListLimit reads past the cap: logins racing at the cap hold a row
// each for a moment before the losers take theirs back.
const deviceListLimit = 2 * MaxDevicesPerUser

// CreateDeviceSession records a new device for a login and its bearer token (hashed).
// Returns CodeConflict when the user already has MaxDevicesPerUser devices holding a
// live session. Concurrent logins never leave more than the cap: each counts again
// after writing its device, and takes it back when the count is over.
func (st *Store) CreateDeviceSession(ctx context.Context, d Device, tokenHash []byte, now time.Time) (Session, error) {
	return st.createDeviceSession(ctx, d, tokenHash, now, Grant{Life: st.retention.Session})
}

// Grant is what a token may do and for how long.
type Grant struct {
	Life   time.Duration // the token's and its device's lifetime
	Scopes []string      // nil: everything its user may
}

// CreateScopedSession is CreateDeviceSession for a token of g's lifetime and
// scopes (a bot's, made by the admin API).
func (st *Store) CreateScopedSession(ctx context.Context, d Device, tokenHash []byte, now time.Time, g Grant) (Session, error) {
	return st.createDeviceSession(ctx, d, tokenHash, now, g)
}

func (st *Store) createDeviceSession(ctx context.Context, d Device, tokenHash []byte, now time.Time, g Grant) (Session, error) {
	n, err := st.countDevices(ctx, d.UserID)
	if err != nil {
		return Session{}, err
	}
	if n >= MaxDevicesPerUser {
		// Devices from before logout retired them, or whose tokens were all
		// deleted, would otherwise lock the user out for good.
		if n, err = st.pruneDeadDevices(ctx, d.UserID, now); err != nil {
			return Session{}, err
		}
		if n >= MaxDevicesPerUser {
			return Session{}, Errorf(CodeConflict, "too many devices (%d): revoke one first", n)
		}
	}
	ttl := ttlSeconds(g.Life)
	if err := st.query(ctx, cqlInsertDevice, d.UserID, d.ID, d.Name, now, now, ttl).ExecRelease(); err != nil {
		return Session{}, translate("insert device", err)
	}
	sess, err := st.writeSession(ctx, d.UserID, d.ID, tokenHash, now, g)
	if err == nil {
		n, err = st.countDevices(ctx, d.UserID)
	}
	if err == nil && n > MaxDevicesPerUser {
		err = Errorf(CodeConflict, "too many devices (%d): revoke one first", MaxDevicesPerUser)
	}
	if err != nil {
		st.retireQuietly(ctx, d.UserID, d.ID)
		return Session{}, err
	}
	return sess, nil
}

// ResumeDeviceSession logs an existing device in again with a new token: the
// device's earlier tokens end (one holder per device; whoever held it before
// is logged out and sees it), and the device's lifetime restarts. name ""
// keeps the device's name. CodeNotFound when the user has no such device
// (never had it, revoked, logged out or expired).
//
// The renewal is written 1 µs past the newest write time of the device
// row's cells, then read back. A revoke is stamped later than the row it
// deletes, so it shadows the renewal whichever reaches the replicas first,
// and the renewal then finds the row gone. It was an IF EXISTS transaction,
// whose cells carry the Paxos ballot's time: a revoke applied between its
// read and its commit left the revoked device listed, and counted against
// the cap, for the session's lifetime (TestRenewalRacingRevokeLeavesNoDevice).
func (st *Store) ResumeDeviceSession(ctx context.Context, userID, deviceID int64, name string, tokenHash []byte, now time.Time) (Session, error) {
	var d Device
	var stamps [3]*int64
	err := st.rawQuery(ctx, cqlDeviceStamp, userID, deviceID).
		Scan(&d.UserID, &d.ID, &d.Name, &d.CreatedAt, &d.LastSeen, &stamps[0], &stamps[1], &stamps[2])
	if err != nil {
		return Session{}, translate("get device", err)
	}
	newest := newestWrite(stamps[:]...)
	if name == "" {
		name = d.Name
	}
	old, err := st.deviceTokens(ctx, userID, deviceID)
	if err != nil {
		return Session{}, err
	}
	// The new token is written before the device is renewed: a revoke that
	// deletes the device after the renewal lists the token and ends it, and
	// one that deleted it before shadows the renewal, which the read back finds.
	sess, err := st.writeSession(ctx, userID, deviceID, tokenHash, now, Grant{Life: st.retention.Session})
	if err != nil {
		return Session{}, err
	}
	err = st.rawQuery(ctx, cqlRenewDevice, ttlSeconds(st.retention.Session), newest+1, name, d.CreatedAt, now, userID, deviceID).Exec()
	if err == nil {
		err = st.query(ctx, cqlGetDevice, userID, deviceID).GetRelease(&Device{})
	}
	if err != nil {
		st.endQuietly(ctx, userID, deviceID, tokenHash)
		if err = translate("renew device", err); IsCode(err, CodeNotFound) {
			err = Errorf(CodeNotFound, "device not found")
		}
		return Session{}, err
	}
	for _, h := range old {
		if !bytes.Equal(h, tokenHash) {
			if err := st.endToken(ctx, userID, deviceID, h); err != nil {
				return Session{}, err
			}
		}
	}
	return sess, nil
}

// endToken deletes one token and then its index row: an index row left
// behind would live as long as the session would have, and every login
// again would add one (the partition, and pruning, would grow without end).
// The session goes first so a failure in between leaves a findable token.
func (st *Store) endToken(ctx context.Context, userID, deviceID int64, tokenHash []byte) error {
	if err := st.DeleteSession(ctx, userID, tokenHash); err != nil {
		return err
	}
	return translate("unindex session", st.query(ctx, cqlUnindexToken, userID, deviceID, tokenHash).ExecRelease())
}

// writeSession indexes and stores one token of a device.
func (st *Store) writeSession(ctx context.Context, userID, deviceID int64, tokenHash []byte, now time.Time, g Grant) (Session, error) {
	ttl := ttlSeconds(g.Life)
	sess := Session{UserID: userID, DeviceID: deviceID, CreatedAt: now, ExpiresAt: now.Add(g.Life), Scopes: g.Scopes}
	// Index first: a token that exists is always findable by its device, so revoke never misses one.
	if err := st.query(ctx, cqlIndexSession, userID, deviceID, tokenHash, ttl).ExecRelease(); err != nil {
		return Session{}, translate("index session", err)
	}
	if err := st.query(ctx, cqlInsertSession, tokenHash, userID, deviceID, now, sess.ExpiresAt, scopesCell(g.Scopes), ttl).ExecRelease(); err != nil {
		return Session{}, translate("insert session", err)
	}
	return sess, nil
}

// scopesCell leaves a login's scopes unset: a null in an INSERT would be a
// tombstone in every session row.
func scopesCell(scopes []string) any {
	if scopes == nil {
		return gocql.UnsetValue
	}
	return scopes
}

func (st *Store) countDevices(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := st.rawQuery(ctx, cqlCountDevices, userID).Scan(&n); err != nil {
		return 0, translate("count devices", err)
	}
	return n, nil
}

// loginGrace is longer than any login takes (the request timeout bounds it).
const loginGrace = time.Minute

// pruneTokensPerDevice bounds the index rows pruning reads for one device.
// A device holds one token (plus logins racing); more are leftovers of
// tokens ended before their index rows were deleted with them. A device
// with more than this is kept: it may hold a live token further on.
const pruneTokensPerDevice = 8

// pruneDeadDevices retires the user's devices none of whose tokens is still a
// session, and returns how many devices are left. Run only at the cap: it
// reads each device's tokens apart, at most pruneTokensPerDevice of them, so
// one device's index rows can never hide another's.
func (st *Store) pruneDeadDevices(ctx context.Context, userID int64, now time.Time) (int, error) {
	devices, err := st.ListDevices(ctx, userID)
	if err != nil {
		return 0, err
	}
	left := 0
	for _, d := range devices {
		// A login under way writes its device before its token.
		live := now.Sub(d.CreatedAt) < loginGrace
		if !live {
			if live, err = st.deviceLive(ctx, userID, d.ID); err != nil {
				return 0, err
			}
		}
		if live {
			left++
			continue
		}
		if err := st.RetireDevice(ctx, userID, d.ID); err != nil {
			return 0, err
		}
	}
	return left, nil
}

// deviceLive reports whether the device may hold a live token: one of its
// first pruneTokensPerDevice index rows is a session, or there are more rows
// than that. Dead rows are left alone: a login again indexes its token
// before storing it, so a row without a session may be one under way.
func (st *Store) deviceLive(ctx context.Context, userID, deviceID int64) (bool, error) {
	return st.DeviceLive(ctx, userID, deviceID)
}

// DeviceLive is deviceLive for the notification workers: a device whose
// every session ended or expired is notified no more.
func (st *Store) DeviceLive(ctx context.Context, userID, deviceID int64) (bool, error) {
	var hashes [][]byte
	err := st.query(ctx, cqlDeviceTokensN, userID, deviceID, pruneTokensPerDevice+1).SelectRelease(&hashes)
	if err != nil {
		return false, translate("list device tokens", err)
	}
	for i, h := range hashes {
		if i == pruneTokensPerDevice {
			return true, nil
		}
		if _, err := st.GetSession(ctx, h); err == nil {
			return true, nil
		} else if !IsCode(err, CodeUnauthenticated) {
			return false, err
		}
	}
	return false, nil
}

// GetSession resolves a token hash; CodeUnauthenticated when unknown or expired.
func (st *Store) GetSession(ctx context.Context, tokenHash []byte) (Session, error) {
	var s Session
	err := st.query(ctx, cqlGetSession, tokenHash).GetRelease(&s)
	if IsCode(translate("", err), CodeNotFound) {
		return Session{}, Errorf(CodeUnauthenticated, "invalid or expired token")
	}
	if err != nil {
		return Session{}, translate("get session", err)
	}
	return s, nil
}

// DeleteSession ends one of the user's tokens at once: into the feed of
// ended sessions first (so every node closes its socket even when the close
// order is lost), then out of sessions. A delete done later than
// SessionEndWriteTimeout after the feed row (or failed) is recorded again:
// a socket whose own check ran between the two must find a row its node's
// next feed read still reaches (repo.SessionEndOverlap).
func (st *Store) DeleteSession(ctx context.Context, userID int64, tokenHash []byte) error {
	began := time.Now()
	if err := st.recordSessionEnd(ctx, userID, tokenHash); err != nil {
		return err
	}
	err := translate("delete session", st.query(ctx, cqlDeleteSession, tokenHash).ExecRelease())
	if err != nil || time.Since(began) > SessionEndWriteTimeout {
		if again := st.recordSessionEnd(ctx, userID, tokenHash); err == nil {
			err = again
		}
	}
	return err
}

// ListDevices returns a user's devices (at most MaxDevicesPerUser, plus any
// logins racing at the cap).
func (st *Store) ListDevices(ctx context.Context, userID int64) ([]Device, error) {
	var ds []Device
	err := st.query(ctx, cqlListDevices, userID, deviceListLimit).SelectRelease(&ds)
	return ds, translate("list devices", err)
}

// RevokeDevice ends a device and every token it holds; CodeNotFound if the
// user has neither such a device nor tokens of it.
func (st *Store) RevokeDevice(ctx context.Context, userID, deviceID int64) error {
	var d Device
	err := st.query(ctx, cqlGetDevice, userID, deviceID).GetRelease(&d)
	if err != nil && !IsCode(translate("", err), CodeNotFound) {
		return translate("get device", err)
	}
	found := err == nil
	tokens, err := st.deviceTokens(ctx, userID, deviceID)
	if err != nil {
		return err
	}
	if !found && len(tokens) == 0 {
		return Errorf(CodeNotFound, "device not found")
	}
	return st.RetireDevice(ctx, userID, deviceID)
}

// RetireDevice ends a device (logout, revoke, password change): its row goes
// first, so a concurrent ResumeDeviceSession either fails or has indexed its
// token before the tokens are listed here; then every token it holds.
// Deleting what is already gone is not an error, so a retry finishes the job.
func (st *Store) RetireDevice(ctx context.Context, userID, deviceID int64) error {
	// The push target first: a device that is gone is never notified again.
	if err := st.DeletePushTarget(ctx, userID, deviceID); err != nil {
		return err
	}
	if err := st.query(ctx, cqlDeleteDevice, userID, deviceID).ExecRelease(); err != nil {
		return translate("delete device", err)
	}
	tokens, err := st.deviceTokens(ctx, userID, deviceID)
	if err != nil {
		return err
	}
	for _, h := range tokens {
		if err := st.DeleteSession(ctx, userID, h); err != nil {
			return err
		}
	}
	return translate("unindex device tokens", st.query(ctx, cqlUnindexDevice, userID, deviceID).ExecRelease())
}

// UserDeviceIDs lists every device the user has a row or a token index for,
// so "log out everywhere" misses no token.
func (st *Store) UserDeviceIDs(ctx context.Context, userID int64) ([]int64, error) {
	devices, err := st.ListDevices(ctx, userID)
	if err != nil {
		return nil, err
	}
	tokens, err := st.userTokens(ctx, userID)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	var ids []int64
	for _, d := range devices {
		seen[d.ID] = true
		ids = append(ids, d.ID)
	}
	for id := range tokens {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (st *Store) deviceTokens(ctx context.Context, userID, deviceID int64) ([][]byte, error) {
	var hashes [][]byte
	err := st.query(ctx, cqlDeviceTokens, userID, deviceID).SelectRelease(&hashes)
	return hashes, translate("list device tokens", err)
}

// userTokens maps the user's devices to their indexed token hashes.
func (st *Store) userTokens(ctx context.Context, userID int64) (map[int64][][]byte, error) {
	out := map[int64][][]byte{}
	iter := st.rawQuery(ctx, cqlUserTokens, userID, 4*deviceListLimit).Iter()
	var dev int64
	var h []byte
	for iter.Scan(&dev, &h) {
		out[dev] = append(out[dev], h)
		h = nil
	}
	return out, translate("list user tokens", iter.Close())
}

// retireQuietly takes back a device whose login failed half-way; it detaches
// from ctx so a timed-out request still cleans up.
func (st *Store) retireQuietly(ctx context.Context, userID, deviceID int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = st.RetireDevice(ctx, userID, deviceID)
}

func (st *Store) endQuietly(ctx context.Context, userID, deviceID int64, tokenHash []byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = st.endToken(ctx, userID, deviceID, tokenHash)
}
