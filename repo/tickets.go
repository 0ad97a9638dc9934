package repo

import (
	"context"
)

const (
	cqlInsertTicket  = `INSERT INTO ws_tickets (ticket_hash, user_id, device_id, session_hash) VALUES (?, ?, ?, ?) USING TTL ?`
	cqlGetTicket     = `SELECT user_id, device_id, session_hash FROM ws_tickets WHERE ticket_hash = ?`
	cqlConsumeTicket = `DELETE FROM ws_tickets WHERE ticket_hash = ? IF EXISTS`
)

// CreateTicket stores a single-use WebSocket ticket (hashed) for the session
// whose token hashes to sessionHash.
func (st *Store) CreateTicket(ctx context.Context, ticketHash, sessionHash []byte, s Session) error {
	err := st.query(ctx, cqlInsertTicket, ticketHash, s.UserID, s.DeviceID, sessionHash, ttlSeconds(st.retention.Ticket)).ExecRelease()
	return translate("insert ticket", err)
}

// ConsumeTicket redeems a ticket exactly once (DELETE ... IF EXISTS is a lightweight
// transaction, so two concurrent redemptions cannot both win) and returns the
// session it was issued for, read again now: a ticket of a session that has
// ended since (logout, revoke, expiry) is refused. It also returns that
// session's token hash (nil for a ticket written before tickets named it).
func (st *Store) ConsumeTicket(ctx context.Context, ticketHash []byte) (Session, []byte, error) {
	var s Session
	var sessionHash []byte
	err := st.rawQuery(ctx, cqlGetTicket, ticketHash).Scan(&s.UserID, &s.DeviceID, &sessionHash)
	if IsCode(translate("", err), CodeNotFound) {
		return Session{}, nil, Errorf(CodeUnauthenticated, "invalid, used or expired ticket")
	}
	if err != nil {
		return Session{}, nil, translate("get ticket", err)
	}
	applied, err := st.lwt(ctx, withinDC, cqlConsumeTicket, ticketHash).MapScanCAS(map[string]any{})
	if err != nil {
		return Session{}, nil, translate("consume ticket", err)
	}
	if !applied {
		return Session{}, nil, Errorf(CodeUnauthenticated, "invalid, used or expired ticket")
	}
	if len(sessionHash) == 0 {
		// An older node's ticket: its session is unknown, its device is not.
		var d Device
		if err := st.query(ctx, cqlGetDevice, s.UserID, s.DeviceID).GetRelease(&d); err != nil {
			if IsCode(translate("", err), CodeNotFound) {
				return Session{}, nil, Errorf(CodeUnauthenticated, "the ticket's session has ended")
			}
			return Session{}, nil, translate("get ticket device", err)
		}
		return s, nil, nil
	}
	live, err := st.GetSession(ctx, sessionHash)
	if IsCode(err, CodeUnauthenticated) {
		return Session{}, nil, Errorf(CodeUnauthenticated, "the ticket's session has ended")
	}
	if err != nil {
		return Session{}, nil, err
	}
	return live, sessionHash, nil
}
