package repo

import (
	"context"
	"time"

	"github.com/gocql/gocql"
)

// Contact states, as one user sees them.
const (
	ContactRequested = "requested" // I asked
	ContactPending   = "pending"   // they asked
	ContactAccepted  = "accepted"
	contactNone      = "none"
)

// Contact is one row of a user's contact list.
type Contact struct {
	UserID    int64     `db:"user_id"`
	ContactID int64     `db:"contact_id"`
	State     string    `db:"state"`
	UpdatedAt time.Time `db:"updated_at"`
}

const (
	cqlGetPair       = `SELECT state, requester, version FROM contact_pairs WHERE user_lo = ? AND user_hi = ?`
	cqlInsertPair    = `INSERT INTO contact_pairs (user_lo, user_hi, state, requester, version) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS`
	cqlUpdatePair    = `UPDATE contact_pairs SET state = ?, requester = ?, version = ? WHERE user_lo = ? AND user_hi = ? IF version = ?`
	cqlMirrorContact = `INSERT INTO contacts_by_user (user_id, contact_id, state, updated_at) VALUES (?, ?, ?, ?) USING TIMESTAMP ?`
	cqlUnmirror      = `DELETE FROM contacts_by_user USING TIMESTAMP ? WHERE user_id = ? AND contact_id = ?`
	cqlListContacts  = `SELECT user_id, contact_id, state, updated_at FROM contacts_by_user WHERE user_id = ? AND contact_id > ? LIMIT ?`
	cqlGetContact    = `SELECT user_id, contact_id, state, updated_at FROM contacts_by_user WHERE user_id = ? AND contact_id = ?`
	cqlBlock         = `INSERT INTO blocks_by_user (user_id, blocked_id, created_at) VALUES (?, ?, ?) USING TIMESTAMP ?`
	cqlUnblock       = `DELETE FROM blocks_by_user USING TIMESTAMP ? WHERE user_id = ? AND blocked_id = ?`
	cqlIsBlocked     = `SELECT blocked_id FROM blocks_by_user WHERE user_id = ? AND blocked_id = ?`
	cqlListBlocks    = `SELECT blocked_id FROM blocks_by_user WHERE user_id = ? AND blocked_id > ? LIMIT ?`
)

// ContactAction is what a user does to a pair.
type ContactAction int

const (
	ContactAdd    ContactAction = iota // request, or accept their request
	ContactRemove                      // remove, decline or cancel
)

type pairState struct {
	state     string
	requester int64
	version   int64
}

// ChangeContact applies an action by me to the pair (me, other) and returns my
// resulting state ("" when none). Concurrent actions from both sides are
// serialized by a lightweight transaction on the pair row; both users' list
// rows are then written with the pair's version as their timestamp.
func (st *Store) ChangeContact(ctx context.Context, me, other int64, action ContactAction, now time.Time) (string, error) {
	lo, hi := min(me, other), max(me, other)
	for attempt := 0; attempt < 8; attempt++ {
		cur, exists, err := st.readPair(ctx, lo, hi)
		if err != nil {
			return "", err
		}
		next := cur
		switch {
		case action == ContactRemove:
			next.state, next.requester = contactNone, 0
		case cur.state == contactNone:
			next.state, next.requester = ContactRequested, me
		case cur.state == ContactRequested && cur.requester != me:
			next.state = ContactAccepted
		}
		if next == cur && exists {
			return mineOf(cur, me), st.mirror(ctx, lo, hi, cur, now) // repair a lost mirror write
		}
		next.version = max(cur.version+1, now.UnixMicro())
		var applied bool
		if !exists {
			applied, err = st.lwt(ctx, acrossDCs, cqlInsertPair, lo, hi, next.state, next.requester, next.version).MapScanCAS(map[string]any{})
		} else {
			applied, err = st.lwt(ctx, acrossDCs, cqlUpdatePair, next.state, next.requester, next.version, lo, hi, cur.version).MapScanCAS(map[string]any{})
		}
		if err != nil {
			return "", translate("change contact", err)
		}
		if applied {
			return mineOf(next, me), st.mirror(ctx, lo, hi, next, now)
		}
	}
	return "", Errorf(CodeUnavailable, "contact changed concurrently too often; retry")
}

func (st *Store) readPair(ctx context.Context, lo, hi int64) (pairState, bool, error) {
	var p pairState
	// A serial read sees any lightweight transaction in progress on the pair,
	// in every DC: pair changes are SERIAL (acrossDCs).
	err := st.raw.Query(cqlGetPair, lo, hi).WithContext(ctx).
		Consistency(gocql.Consistency(gocql.Serial)).Scan(&p.state, &p.requester, &p.version)
	if IsCode(translate("", err), CodeNotFound) {
		return pairState{state: contactNone}, false, nil
	}
	if err != nil {
		return pairState{}, false, translate("read contact pair", err)
	}
	return p, true, nil
}

// mineOf is the pair's state as user me sees it.
func mineOf(p pairState, me int64) string {
	switch {
	case p.state == ContactAccepted:
		return ContactAccepted
	case p.state == ContactRequested && p.requester == me:
		return ContactRequested
	case p.state == ContactRequested:
		return ContactPending
	}
	return ""
}

// mirror writes both users' rows in one logged batch at the pair's version.
func (st *Store) mirror(ctx context.Context, lo, hi int64, p pairState, now time.Time) error {
	b := st.raw.NewBatch(gocql.LoggedBatch).WithContext(ctx)
	for _, pair := range [][2]int64{{lo, hi}, {hi, lo}} {
		if s := mineOf(p, pair[0]); s != "" {
			b.Query(cqlMirrorContact, pair[0], pair[1], s, now, p.version)
		} else {
			b.Query(cqlUnmirror, p.version, pair[0], pair[1])
		}
	}
	return translate("mirror contact", st.raw.ExecuteBatch(b))
}

// ListContacts pages a user's contacts by contact id.
func (st *Store) ListContacts(ctx context.Context, userID, after int64, limit int) ([]Contact, error) {
	var cs []Contact
	err := st.query(ctx, cqlListContacts, userID, after, limit).SelectRelease(&cs)
	return cs, translate("list contacts", err)
}

// GetContact returns one contact row or CodeNotFound.
func (st *Store) GetContact(ctx context.Context, userID, contactID int64) (Contact, error) {
	var c Contact
	err := st.query(ctx, cqlGetContact, userID, contactID).GetRelease(&c)
	return c, translate("get contact", err)
}

// Block records that userID blocks other, written at `at`: the block's one
// timestamp, which its block flags (SetBlocksPeer) carry too, so of a block
// and an unblock racing through two nodes the later wins in both tables.
func (st *Store) Block(ctx context.Context, userID, other int64, at time.Time) error {
	return translate("block", st.query(ctx, cqlBlock, userID, other, at, at.UnixMicro()).ExecRelease())
}

// Unblock removes a block, written at `at` (as Block).
func (st *Store) Unblock(ctx context.Context, userID, other int64, at time.Time) error {
	return translate("unblock", st.query(ctx, cqlUnblock, at.UnixMicro(), userID, other).ExecRelease())
}

// Blocks reports whether userID blocks other.
func (st *Store) Blocks(ctx context.Context, userID, other int64) (bool, error) {
	var id int64
	err := st.rawQuery(ctx, cqlIsBlocked, userID, other).Scan(&id)
	if IsCode(translate("", err), CodeNotFound) {
		return false, nil
	}
	return err == nil, translate("read block", err)
}

// ListBlocks pages the users userID blocks.
func (st *Store) ListBlocks(ctx context.Context, userID, after int64, limit int) ([]int64, error) {
	var ids []int64
	err := st.query(ctx, cqlListBlocks, userID, after, limit).SelectRelease(&ids)
	return ids, translate("list blocks", err)
}
