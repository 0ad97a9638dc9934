package repo

import (
	"context"
	"time"
)

const (
	cqlInsertSession = `INSERT INTO sessions (token_hash, user_id, device_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?) USING TTL ?`
	cqlIndexSession  = `INSERT INTO sessions_by_device (user_id, device_id, token_hash) VALUES (?, ?, ?) USING TTL ?`
	cqlGetSession    = `SELECT user_id, device_id, created_at, expires_at FROM sessions WHERE token_hash = ?`
	cqlDeleteSession = `DELETE FROM sessions WHERE token_hash = ?`
	cqlDeviceTokens  = `SELECT token_hash FROM sessions_by_device WHERE user_id = ? AND device_id = ?`
	cqlUnindexDevice = `DELETE FROM sessions_by_device WHERE user_id = ? AND device_id = ?`
	cqlInsertDevice  = `INSERT INTO devices_by_user (user_id, device_id, name, created_at, last_seen) VALUES (?, ?, ?, ?, ?)`
	cqlListDevices   = `SELECT user_id, device_id, name, created_at, last_seen FROM devices_by_user WHERE user_id = ? LIMIT ?`
	cqlGetDevice     = `SELECT user_id, device_id, name, created_at, last_seen FROM devices_by_user WHERE user_id = ? AND device_id = ?`
	cqlDeleteDevice  = `DELETE FROM devices_by_user WHERE user_id = ? AND device_id = ?`
	cqlCountDevices  = `SELECT COUNT(*) FROM devices_by_user WHERE user_id = ?`

	cqlInsertTicket  = `INSERT INTO ws_tickets (ticket_hash, user_id, device_id) VALUES (?, ?, ?) USING TTL ?`
	cqlGetTicket     = `SELECT user_id, device_id FROM ws_tickets WHERE ticket_hash = ?`
	cqlConsumeTicket = `DELETE FROM ws_tickets WHERE ticket_hash = ? IF EXISTS`
)

// MaxDevicesPerUser bounds devices_by_user partitions and the fan-out per user.
const MaxDevicesPerUser = 100

// CreateDeviceSession records a new device for a login and its bearer token (hashed).
// Returns CodeConflict when the user already has MaxDevicesPerUser devices.
func (st *Store) CreateDeviceSession(ctx context.Context, d Device, tokenHash []byte, now time.Time) (Session, error) {
	var n int
	if err := st.raw.Query(cqlCountDevices, d.UserID).WithContext(ctx).Scan(&n); err != nil {
		return Session{}, translate("count devices", err)
	}
	if n >= MaxDevicesPerUser {
		return Session{}, Errorf(CodeConflict, "too many devices (%d): revoke one first", n)
	}
	if err := st.query(ctx, cqlInsertDevice, d.UserID, d.ID, d.Name, now, now).ExecRelease(); err != nil {
		return Session{}, translate("insert device", err)
	}
	ttl := ttlSeconds(st.retention.Session)
	sess := Session{UserID: d.UserID, DeviceID: d.ID, CreatedAt: now, ExpiresAt: now.Add(st.retention.Session)}
	// Index first: a token that exists is always findable by its device, so revoke never misses one.
	if err := st.query(ctx, cqlIndexSession, d.UserID, d.ID, tokenHash, ttl).ExecRelease(); err != nil {
		return Session{}, translate("index session", err)
	}
	if err := st.query(ctx, cqlInsertSession, tokenHash, d.UserID, d.ID, now, sess.ExpiresAt, ttl).ExecRelease(); err != nil {
		return Session{}, translate("insert session", err)
	}
	return sess, nil
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

// DeleteSession revokes one token at once.
func (st *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	return translate("delete session", st.query(ctx, cqlDeleteSession, tokenHash).ExecRelease())
}

// ListDevices returns a user's devices (at most MaxDevicesPerUser).
func (st *Store) ListDevices(ctx context.Context, userID int64) ([]Device, error) {
	var ds []Device
	err := st.query(ctx, cqlListDevices, userID, MaxDevicesPerUser).SelectRelease(&ds)
	return ds, translate("list devices", err)
}

// RevokeDevice deletes a device and every token it holds; CodeNotFound if unknown.
func (st *Store) RevokeDevice(ctx context.Context, userID, deviceID int64) error {
	var d Device
	if err := st.query(ctx, cqlGetDevice, userID, deviceID).GetRelease(&d); err != nil {
		return translate("get device", err)
	}
	var hashes [][]byte
	if err := st.query(ctx, cqlDeviceTokens, userID, deviceID).SelectRelease(&hashes); err != nil {
		return translate("list device tokens", err)
	}
	for _, h := range hashes {
		if err := st.DeleteSession(ctx, h); err != nil {
			return err
		}
	}
	if err := st.query(ctx, cqlUnindexDevice, userID, deviceID).ExecRelease(); err != nil {
		return translate("unindex device tokens", err)
	}
	return translate("delete device", st.query(ctx, cqlDeleteDevice, userID, deviceID).ExecRelease())
}

// CreateTicket stores a single-use WebSocket ticket (hashed) for a session.
func (st *Store) CreateTicket(ctx context.Context, ticketHash []byte, s Session) error {
	err := st.query(ctx, cqlInsertTicket, ticketHash, s.UserID, s.DeviceID, ttlSeconds(st.retention.Ticket)).ExecRelease()
	return translate("insert ticket", err)
}

// ConsumeTicket redeems a ticket exactly once (DELETE ... IF EXISTS is a lightweight
// transaction, so two concurrent redemptions cannot both win).
func (st *Store) ConsumeTicket(ctx context.Context, ticketHash []byte) (Session, error) {
	var s Session
	err := st.raw.Query(cqlGetTicket, ticketHash).WithContext(ctx).Scan(&s.UserID, &s.DeviceID)
	if IsCode(translate("", err), CodeNotFound) {
		return Session{}, Errorf(CodeUnauthenticated, "invalid, used or expired ticket")
	}
	if err != nil {
		return Session{}, translate("get ticket", err)
	}
	applied, err := st.raw.Query(cqlConsumeTicket, ticketHash).WithContext(ctx).ScanCAS()
	if err != nil {
		return Session{}, translate("consume ticket", err)
	}
	if !applied {
		return Session{}, Errorf(CodeUnauthenticated, "invalid, used or expired ticket")
	}
	return s, nil
}
