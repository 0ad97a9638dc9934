package repo

import (
	"context"
	"math/rand/v2"
)

const (
	cqlMembersVersion    = `SELECT members_version FROM conversations WHERE conv_id = ?`
	cqlSetMembersVersion = `UPDATE conversations SET members_version = ? WHERE conv_id = ? IF kind = 'group' AND members_version = ?`
)

// bumpAttempts bounds how often one change retries its compare-and-set
// against other changes of the same group landing in between.
const bumpAttempts = 8

// BumpMembers replaces a group's members version after a change of its
// member set, before the change is answered. A compare-and-set from the
// version it finds, so versions form one sequence: a list a node read after
// seeing a version holds every change whose bump came before it, and every
// change answered later leaves another version, which sends read with the
// group's row. A plain write stamped later could lose to an earlier change's
// write from a node whose clock is ahead, leaving a list without the later
// change current. The condition on kind keeps a missing or direct
// conversation's row from being made. A group older than v0015 (no version)
// gets its first here. SERIAL, not the session's LOCAL_SERIAL: two DCs each
// winning their own round would leave one version, ordered by clock, over a
// list read before the other DC's change reached it; a membership change
// therefore needs a quorum of all replicas (docs/cluster.md).
func (st *Store) BumpMembers(ctx context.Context, convID int64) error {
	var known *int64
	err := translate("read members version", st.rawQuery(ctx, cqlMembersVersion, convID).Scan(&known))
	if IsCode(err, CodeNotFound) {
		return nil // no conversation row: no node holds its members
	}
	if err != nil {
		return err
	}
	for range bumpAttempts {
		next := rand.Int64N(1<<62) + 1 // never 0 (unknown) nor a value a reader holds, but by chance
		row := map[string]any{}
		applied, err := st.lwt(ctx, acrossDCs, cqlSetMembersVersion, next, convID, known).MapScanCAS(row)
		if err != nil {
			return translate("bump members version", err)
		}
		if applied {
			return nil
		}
		if kind, _ := row["kind"].(string); kind != KindGroup {
			return nil // not a group (deleted rows keep their kind): nothing caches its members
		}
		v, ok := row["members_version"].(int64)
		if ok && v != 0 { // the driver may answer a null bigint as 0
			known = &v
		} else {
			known = nil
		}
	}
	return Errorf(CodeUnavailable, "the group's members are changing too fast: retry")
}
