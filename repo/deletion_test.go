package repo_test

import (
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Account deletion's rows (docs/accounts.md) against the real node.

func TestDeletionRecordsPageAndFinish(t *testing.T) {
	c := ctx(t)
	// Three accounts in one shard, read a page of one at a time.
	base := gen.Next()
	base -= base % repo.DeletionShards
	ids := []int64{base + 16*1000, base + 16*2000, base + 16*3000}
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range ids {
		if err := store.StartDeletion(c, id, at); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() map[int64]time.Time {
		got, err := store.PendingDeletions(c, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]time.Time{}
		for _, p := range got {
			out[p.UserID] = p.StartedAt
		}
		return out
	}
	got := pending()
	for _, id := range ids {
		if !got[id].Equal(at) {
			t.Fatalf("deletion %d not listed across pages: %v", id, got)
		}
	}
	later := at.Add(time.Minute)
	if err := store.StartDeletion(c, ids[0], later); err != nil { // a run's touch
		t.Fatal(err)
	}
	if err := store.FinishDeletion(c, ids[1]); err != nil {
		t.Fatal(err)
	}
	got = pending()
	if _, ok := got[ids[1]]; ok || !got[ids[0]].Equal(later) || !got[ids[2]].Equal(at) {
		t.Fatalf("after a touch and a finish: %v", got)
	}
}

func TestDeletedAccountHandleHeldThenTakenOver(t *testing.T) {
	c := ctx(t)
	hold := repo.DefaultRetention()
	hold.HandleHold = time.Hour
	held := repo.NewStore(raw, layout, hold)
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := repo.User{ID: gen.Next(), Handle: "Gone_User", DisplayName: "G", PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
	if err := held.CreateUser(c, u); err != nil {
		t.Fatal(err)
	}
	if err := held.MarkUserDeleted(c, u.ID, now.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := held.GetUserByHandle(c, "gone_user"); !repo.IsCode(err, repo.CodeNotFound) {
		t.Fatalf("a deleted account by handle: %v, want not found", err)
	}
	if got, err := held.GetUser(c, u.ID); err != nil || !got.Deleted() || got.PasswordHash != "" {
		t.Fatalf("the marked account: %+v %v", got, err)
	}
	if err := held.ClearProfile(c, u.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := held.GetUser(c, u.ID); got.Handle != "" || got.DisplayName != "" || !got.Deleted() {
		t.Fatalf("the cleared profile: %+v", got)
	}
	next := repo.User{ID: gen.Next(), Handle: "gone_user", PasswordHash: "h2", CreatedAt: now, UpdatedAt: now}
	if err := held.CreateUser(c, next); !repo.IsCode(err, repo.CodeConflict) {
		t.Fatalf("registering a handle held for 30 more minutes: %v, want conflict", err)
	}
	// Deleted more than the hold ago: the claim is taken over, once.
	if err := held.MarkUserDeleted(c, u.ID, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := held.CreateUser(c, next); err != nil {
		t.Fatalf("registering a handle past its hold: %v", err)
	}
	if got, err := held.GetUserByHandle(c, "GONE_USER"); err != nil || got.ID != next.ID {
		t.Fatalf("the handle after the takeover: %+v %v", got, err)
	}
	third := repo.User{ID: gen.Next(), Handle: "gone_user", PasswordHash: "h3", CreatedAt: now, UpdatedAt: now}
	if err := held.CreateUser(c, third); !repo.IsCode(err, repo.CodeConflict) {
		t.Fatalf("a second registration after the takeover: %v, want conflict", err)
	}
}

func TestMediaByOwnerFollowsUploads(t *testing.T) {
	c := ctx(t)
	owner := gen.Next()
	m := repo.Media{ID: gen.Next(), OwnerID: owner, ObjectKey: "k/1", ContentType: "image/png", Size: 3, Purpose: repo.PurposeMessage, CreatedAt: time.Now().UTC()}
	if err := store.CreateMedia(c, m); err != nil {
		t.Fatal(err)
	}
	bucket := repo.MediaBucket(m.ID)
	if got := repo.MediaBuckets(time.Now().Add(-24*time.Hour), time.Now()); len(got) == 0 || got[len(got)-1] != bucket {
		t.Fatalf("buckets %v do not end with this upload's %d", got, bucket)
	}
	list := func() []int64 {
		ids, err := store.OwnerMedia(c, owner, bucket, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if ids := list(); len(ids) != 1 || ids[0] != m.ID {
		t.Fatalf("a pending upload's index: %v", ids)
	}
	if _, err := store.MarkMediaReady(c, m, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	if ids := list(); len(ids) != 1 || ids[0] != m.ID {
		t.Fatalf("a completed upload's index: %v", ids)
	}
	if err := store.DeleteMedia(c, owner, m.ID); err != nil {
		t.Fatal(err)
	}
	if ids := list(); len(ids) != 0 {
		t.Fatalf("index after delete: %v", ids)
	}
	if _, err := store.GetMedia(c, m.ID); !repo.IsCode(err, repo.CodeNotFound) {
		t.Fatalf("media after delete: %v", err)
	}
}
