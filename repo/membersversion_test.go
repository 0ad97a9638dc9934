package repo_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

func membersVersion(t *testing.T, conv int64) int64 {
	t.Helper()
	c, err := store.GetConversation(ctx(t), conv)
	if err != nil {
		t.Fatal(err)
	}
	return c.MembersVersion
}

// A group starts at a version and every change of its member set, add or
// removal, leaves another one; a role change does not (the set is the same).
func TestMembersVersionChangesWithTheMemberSet(t *testing.T) {
	owner, m := gen.Next(), gen.Next()
	g := newGroup(t, owner)
	seen := map[int64]bool{}
	v := membersVersion(t, g.ID)
	if v == 0 {
		t.Fatal("a new group has no members version")
	}
	seen[v] = true
	if err := store.AddMember(ctx(t), g.ID, m, repo.RoleMember, time.Now().UTC(), repo.FanoutPush, nil); err != nil {
		t.Fatal(err)
	}
	if v = membersVersion(t, g.ID); seen[v] || v == 0 {
		t.Fatalf("after an add the version is %d, seen before: %v", v, seen)
	}
	seen[v] = true
	if err := store.SetRole(ctx(t), g.ID, m, repo.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if got := membersVersion(t, g.ID); got != v {
		t.Fatalf("a role change moved the version %d → %d", v, got)
	}
	if err := store.RemoveMember(ctx(t), g.ID, m, nil); err != nil {
		t.Fatal(err)
	}
	if v = membersVersion(t, g.ID); seen[v] || v == 0 {
		t.Fatalf("after a removal the version is %d, seen before: %v", v, seen)
	}
}

// Changes racing each other each get their own version, one after another
// (the compare-and-set retries on what it finds), and none fails.
func TestRacingMemberChangesEachLeaveAVersion(t *testing.T) {
	owner := gen.Next()
	g := newGroup(t, owner)
	const racers = 12
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- store.AddMember(ctx(t), g.ID, gen.Next(), repo.RoleMember, time.Now().UTC(), repo.FanoutPush, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a racing add failed: %v", err)
		}
	}
	if v := membersVersion(t, g.ID); v == 0 || v == g.ID {
		t.Fatalf("after %d adds the version is %d (the group's first: %d)", racers, v, g.ID)
	}
	members, err := store.ListMembers(ctx(t), g.ID)
	if err != nil || len(members) != racers+1 {
		t.Fatalf("%d members (%v), want %d", len(members), err, racers+1)
	}
}

// A group from before v0015 (no version) gets its first at its next change;
// a bump never makes a conversation row that is not there, nor gives a
// direct conversation a version.
func TestBumpMembersOnlyVersionsGroups(t *testing.T) {
	owner := gen.Next()
	g := newGroup(t, owner)
	if err := raw.Query(`UPDATE conversations SET members_version = null WHERE conv_id = ?`, g.ID).Exec(); err != nil {
		t.Fatal(err)
	}
	if err := store.BumpMembers(ctx(t), g.ID); err != nil {
		t.Fatal(err)
	}
	if v := membersVersion(t, g.ID); v == 0 {
		t.Fatal("a group without a version got none from a bump")
	}
	missing := gen.Next()
	if err := store.BumpMembers(ctx(t), missing); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.Query(`SELECT COUNT(*) FROM conversations WHERE conv_id = ?`, missing).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a bump of a missing conversation left %d rows (%v)", n, err)
	}
	a, b := gen.Next(), gen.Next()
	d, _, err := store.GetOrCreateDirect(ctx(t), a, b, gen.Next())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.BumpMembers(ctx(t), d.ID); err != nil {
		t.Fatal(err)
	}
	if v := membersVersion(t, d.ID); v != 0 {
		t.Fatalf("a direct conversation got members version %d", v)
	}
}
