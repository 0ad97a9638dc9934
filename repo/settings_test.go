package repo_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// userConvCells reads what a user's list row of a conversation holds.
func userConvCells(t *testing.T, conv, user int64) (kind *string, pinned *bool, found bool) {
	t.Helper()
	iter := raw.Query(`SELECT kind, pinned FROM conversations_by_user WHERE user_id = ? AND conv_id = ?`, user, conv).
		WithContext(ctx(t)).Iter()
	found = iter.Scan(&kind, &pinned)
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return kind, pinned, found
}

// A settings change racing the member's removal, side by side again and
// again against the real node, never leaves the removed member a list row
// holding settings (which a re-add would inherit, and which reads as a row
// of the list), and a re-add starts with none.
func TestSettingsChangeRacingRemovalLeavesNoRow(t *testing.T) {
	owner, m := gen.Next(), gen.Next()
	g := newGroup(t, owner)
	pin := true
	for round := range 40 {
		if err := store.AddMember(ctx(t), g.ID, m, repo.RoleMember, time.Now().UTC(), repo.FanoutPush, nil); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var setErr, removeErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			setErr = store.UpdateSettings(ctx(t), m, g.ID, repo.ConversationSettings{Pinned: &pin})
		}()
		go func() { defer wg.Done(); removeErr = store.RemoveMember(ctx(t), g.ID, m, nil) }()
		wg.Wait()
		if removeErr != nil || (setErr != nil && !repo.IsCode(setErr, repo.CodeNotFound)) {
			t.Fatalf("round %d: remove %v, update settings %v", round, removeErr, setErr)
		}
		if kind, pinned, found := userConvCells(t, g.ID, m); found {
			t.Fatalf("round %d: after the removal (update settings: %v) the member's list row holds kind %v, pinned %v", round, setErr, kind, pinned)
		}
	}
	if err := store.UpdateSettings(ctx(t), m, g.ID, repo.ConversationSettings{Pinned: &pin}); !repo.IsCode(err, repo.CodeNotFound) {
		t.Fatalf("settings of a conversation not in the list: %v, want not found", err)
	}
	if err := store.AddMember(ctx(t), g.ID, m, repo.RoleMember, time.Now().UTC(), repo.FanoutPush, nil); err != nil {
		t.Fatal(err)
	}
	if uc, err := store.GetUserConversation(ctx(t), m, g.ID); err != nil || uc.Pinned {
		t.Fatalf("re-added: %+v %v, want unpinned", uc, err)
	}
	// Changes stack past the row's own time, each seen by the next read.
	for _, p := range []bool{true, false, true} {
		if err := store.UpdateSettings(ctx(t), m, g.ID, repo.ConversationSettings{Pinned: &p}); err != nil {
			t.Fatal(err)
		}
		if uc, err := store.GetUserConversation(ctx(t), m, g.ID); err != nil || uc.Pinned != p {
			t.Fatalf("after pinning %v: %+v %v", p, uc, err)
		}
	}
}

// A login again racing the device's revoke, side by side again and again:
// once both answered, the device is gone and no token of it works. With the
// renewal an IF EXISTS transaction, its cells carried the Paxos ballot's
// time, and a revoke applied between its read and its commit left the
// device listed for the session's lifetime.
func TestRenewalRacingRevokeLeavesNoDevice(t *testing.T) {
	c := ctx(t)
	for round := range 80 {
		d := repo.Device{UserID: gen.Next(), ID: gen.Next(), Name: "phone"}
		if _, err := store.CreateDeviceSession(c, d, tokenHash(round), time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		again := tokenHash(1000 + round)
		var wg sync.WaitGroup
		var renewErr, revokeErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, renewErr = store.ResumeDeviceSession(c, d.UserID, d.ID, "", again, time.Now().UTC())
		}()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(round%8) * time.Millisecond) // the revoke at points along the renewal
			revokeErr = store.RevokeDevice(c, d.UserID, d.ID)
		}()
		wg.Wait()
		if revokeErr != nil || (renewErr != nil && !repo.IsCode(renewErr, repo.CodeNotFound)) {
			t.Fatalf("round %d: revoke %v, renew %v", round, revokeErr, renewErr)
		}
		var rows int
		if err := raw.Query(`SELECT COUNT(*) FROM devices_by_user WHERE user_id = ? AND device_id = ?`, d.UserID, d.ID).Scan(&rows); err != nil || rows != 0 {
			t.Fatalf("round %d: after the revoke (renewal: %v) the device has %d rows (%v)", round, renewErr, rows, err)
		}
		if _, err := store.GetSession(c, again); !repo.IsCode(err, repo.CodeUnauthenticated) {
			t.Fatalf("round %d: the renewal's token works after the revoke: %v", round, err)
		}
	}
}
