package repo_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
)

// memberCells reads what members_by_conversation holds for (conv, user),
// ghost cells included: isMember hides a row without joined_at, the table
// does not.
func memberCells(t *testing.T, conv, user int64) (role string, joined time.Time, found bool) {
	t.Helper()
	iter := raw.Query(`SELECT role, joined_at FROM members_by_conversation WHERE conv_id = ? AND user_id = ?`, conv, user).
		WithContext(ctx(t)).Iter()
	found = iter.Scan(&role, &joined)
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return role, joined, found
}

func newGroup(t *testing.T, members ...int64) repo.Conversation {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := repo.Conversation{ID: gen.Next(), Kind: repo.KindGroup, Name: "roles", CreatedBy: members[0], CreatedAt: now, UpdatedAt: now, Fanout: repo.FanoutPush}
	if err := store.CreateGroup(ctx(t), c, members[0], members[1:], repo.FanoutPush, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// A role change racing the member's removal, run side by side again and
// again against the real node, never leaves the removed member with a role
// (a row the removal should have shadowed), and a re-add has its own role.
// With the role set by a lightweight transaction (IF EXISTS), its cell was
// written at the Paxos ballot's time: a removal stamped before the ballot
// but applied between the transaction's read and its commit left the role
// behind, and the change was reported done on a member already gone.
func TestRoleChangeRacingRemovalLeavesNoRole(t *testing.T) {
	owner, m := gen.Next(), gen.Next()
	g := newGroup(t, owner)
	for round := range 40 {
		at := time.Now().UTC().Truncate(time.Millisecond)
		if err := store.AddMember(ctx(t), g.ID, m, repo.RoleMember, at, repo.FanoutPush, nil); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var setErr, removeErr error
		wg.Add(2)
		go func() { defer wg.Done(); setErr = store.SetRole(ctx(t), g.ID, m, repo.RoleAdmin) }()
		go func() { defer wg.Done(); removeErr = store.RemoveMember(ctx(t), g.ID, m, nil) }()
		wg.Wait()
		if removeErr != nil || (setErr != nil && !repo.IsCode(setErr, repo.CodeNotFound)) {
			t.Fatalf("round %d: remove %v, set role %v", round, removeErr, setErr)
		}
		if role, joined, found := memberCells(t, g.ID, m); found {
			t.Fatalf("round %d: after the removal (set role: %v) the member's row holds role %q, joined_at %v", round, setErr, role, joined)
		}
	}
	if err := store.AddMember(ctx(t), g.ID, m, repo.RoleMember, time.Now().UTC(), repo.FanoutPush, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := store.GetMember(ctx(t), g.ID, m); err != nil || got.Role != repo.RoleMember {
		t.Fatalf("re-added as a member: %+v %v", got, err)
	}
}

// The removal lands between the role change's read of the member and its
// write: the change is refused (not a member), and leaves no role. The
// change runs through a proxy adding 300 ms each way, so its read reaches
// the node at about 300 ms and its write at about 900 ms; the removal,
// started at 450 ms on a direct session, lands between them.
func TestRoleChangeAfterRemovalBetweenItsReadAndWrite(t *testing.T) {
	owner, m := gen.Next(), gen.Next()
	g := newGroup(t, owner, m)
	session, proxy := cqltest.ProxiedSession(t, ks, 5*time.Second)
	slow := repo.NewStore(session, layout, repo.DefaultRetention())
	// Once without delay, so its statements are prepared: a first run would
	// add a PREPARE round trip before each.
	if err := slow.SetRole(ctx(t), g.ID, owner, repo.RoleOwner); err != nil {
		t.Fatal(err)
	}
	proxy.SetDelay(300 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- slow.SetRole(ctx(t), g.ID, m, repo.RoleAdmin) }()
	time.Sleep(450 * time.Millisecond) // the change's read has arrived, its write has not
	if err := store.RemoveMember(ctx(t), g.ID, m, nil); err != nil {
		t.Fatal(err)
	}
	err := <-done
	proxy.SetDelay(0)
	var re *repo.Error
	if errors.As(err, &re) && re.Message == "not a member" {
		t.Fatal("the change's read already found the member removed: the interleaving was not tested")
	}
	if !repo.IsCode(err, repo.CodeNotFound) {
		t.Fatalf("role change of a member removed while it ran: %v, want not found", err)
	}
	if role, joined, found := memberCells(t, g.ID, m); found {
		t.Fatalf("the removed member's row holds role %q, joined_at %v", role, joined)
	}
	if err := store.SetRole(ctx(t), g.ID, m, repo.RoleAdmin); !repo.IsCode(err, repo.CodeNotFound) {
		t.Fatalf("role change of a removed member: %v, want not found", err)
	}
	// Promotions stack past the membership's own time; a removal still beats them.
	if err := store.AddMember(ctx(t), g.ID, m, repo.RoleMember, time.Now().UTC(), repo.FanoutPush, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{repo.RoleAdmin, repo.RoleMember, repo.RoleAdmin} {
		if err := store.SetRole(ctx(t), g.ID, m, r); err != nil {
			t.Fatal(err)
		}
		if got, err := store.GetMember(ctx(t), g.ID, m); err != nil || got.Role != r {
			t.Fatalf("after setting %s: %+v %v", r, got, err)
		}
	}
	if err := store.RemoveMember(ctx(t), g.ID, m, nil); err != nil {
		t.Fatal(err)
	}
	if role, _, found := memberCells(t, g.ID, m); found {
		t.Fatalf("after three role changes and a removal the row holds role %q", role)
	}
}
