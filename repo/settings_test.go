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
