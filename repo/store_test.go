package repo_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

// Store tests run against the real Cassandra node, one keyspace for the package.

var (
	layout = repo.Layout{MessageBucket: time.Second, InboxBucket: time.Second}
	store  *repo.Store
	ks     string
	raw    *gocql.Session // for tests that set up or inspect rows directly
)

func TestMain(m *testing.M) {
	session, name, err := cqltest.CreateKeyspace("repo", schema.Settings{MessageBucket: layout.MessageBucket, InboxBucket: layout.InboxBucket})
	if err != nil {
		panic(err) // Cassandra must be up: make test starts it
	}
	ks, raw = name, session
	store = repo.NewStore(session, layout, repo.DefaultRetention())
	code := m.Run()
	session.Close()
	cqltest.DropKeyspace(ks)
	os.Exit(code)
}

var gen = func() *snowflake.Generator {
	g, err := snowflake.NewGenerator(900)
	if err != nil {
		panic(err)
	}
	return g
}()

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestUsers(t *testing.T) {
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := repo.User{ID: gen.Next(), Handle: "Repo_User", DisplayName: "R", PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
	if err := store.CreateUser(c, u); err != nil {
		t.Fatal(err)
	}
	dup := u
	dup.ID = gen.Next()
	dup.Handle = "repo_user"
	if err := store.CreateUser(c, dup); !repo.IsCode(err, repo.CodeConflict) {
		t.Fatalf("duplicate handle: %v", err)
	}
	got, err := store.GetUserByHandle(c, "REPO_USER")
	if err != nil || got.ID != u.ID || got.Handle != "Repo_User" {
		t.Fatalf("by handle: %+v %v", got, err)
	}
	name := "New"
	if err := store.UpdateProfile(c, u.ID, repo.ProfileUpdate{DisplayName: &name}, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.GetUser(c, u.ID); got.DisplayName != "New" || got.PasswordHash != "h" {
		t.Fatalf("after update: %+v", got)
	}
	if err := store.UpdateProfile(c, 42, repo.ProfileUpdate{DisplayName: &name}, now); !repo.IsCode(err, repo.CodeNotFound) {
		t.Fatalf("update of unknown user: %v", err)
	}
	if _, err := store.GetUser(c, 43); !repo.IsCode(err, repo.CodeNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestSessionsDevicesTickets(t *testing.T) {
	c := ctx(t)
	now := time.Now().UTC()
	d := repo.Device{UserID: gen.Next(), ID: gen.Next(), Name: "phone"}
	hash := []byte("0123456789abcdef0123456789abcdef")
	if _, err := store.CreateDeviceSession(c, d, hash, now); err != nil {
		t.Fatal(err)
	}
	s, err := store.GetSession(c, hash)
	if err != nil || s.UserID != d.UserID || s.DeviceID != d.ID {
		t.Fatalf("session: %+v %v", s, err)
	}
	ticket := []byte("ticket-hash-ticket-hash-ticket-h")
	if err := store.CreateTicket(c, ticket, hash, s); err != nil {
		t.Fatal(err)
	}
	// Two concurrent redemptions: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan bool, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := store.ConsumeTicket(c, ticket)
			wins <- err == nil && got.UserID == d.UserID
		}()
	}
	wg.Wait()
	close(wins)
	n := 0
	for w := range wins {
		if w {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d redemptions of one ticket succeeded", n)
	}
	if err := store.RevokeDevice(c, d.UserID, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetSession(c, hash); !repo.IsCode(err, repo.CodeUnauthenticated) {
		t.Fatalf("token of a revoked device still works: %v", err)
	}
	if ds, _ := store.ListDevices(c, d.UserID); len(ds) != 0 {
		t.Fatalf("revoked device still listed: %v", ds)
	}
}

func TestDirectConversationAndAuthorize(t *testing.T) {
	c := ctx(t)
	a, b, stranger := gen.Next(), gen.Next(), gen.Next()
	conv, created, err := store.GetOrCreateDirect(c, a, b, gen.Next())
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	again, created, err := store.GetOrCreateDirect(c, b, a, gen.Next())
	if err != nil || created || again.ID != conv.ID {
		t.Fatalf("second create: %+v %v %v", again, created, err)
	}
	if _, err := store.Authorize(c, conv.ID, a); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authorize(c, conv.ID, stranger); !repo.IsCode(err, repo.CodePermissionDenied) {
		t.Fatalf("stranger: %v", err)
	}
	if _, err := store.Authorize(c, gen.Next(), a); !repo.IsCode(err, repo.CodeNotFound) {
		t.Fatalf("unknown conversation: %v", err)
	}
	ms, err := store.ListMembers(c, conv.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("members: %v %v", ms, err)
	}
}

func TestClaimSend(t *testing.T) {
	c := ctx(t)
	sender, conv := gen.Next(), gen.Next()
	first, err := store.ClaimSend(c, sender, "cm-1", conv, 1001)
	if err != nil || !first.Won || first.MsgID != 1001 {
		t.Fatalf("first claim: %+v %v", first, err)
	}
	second, err := store.ClaimSend(c, sender, "cm-1", conv, 2002)
	if err != nil || second.Won || second.MsgID != 1001 || second.ConvID != conv {
		t.Fatalf("second claim: %+v %v", second, err)
	}
}

// TestSyncCursorStopsAtSafePoint drives Sync with hand-made event ids around
// the safe point: the cursor may pass only ids that every writer has finished.
func TestSyncCursorStopsAtSafePoint(t *testing.T) {
	c := ctx(t)
	user := gen.Next()
	now := time.Now().UTC()
	at := func(d time.Duration, seq int64) int64 { return snowflake.MinIDAt(now.Add(d)) + seq }
	safe := snowflake.MinIDAt(now.Add(-5 * time.Second))
	old := []int64{at(-20*time.Second, 1), at(-12*time.Second, 2), at(-9*time.Second, 3), at(-7*time.Second, 4)}
	fresh := []int64{at(-2*time.Second, 5), at(-time.Second, 6)}
	for _, id := range append(append([]int64{}, old...), fresh...) {
		if err := store.AppendEvent(c, []int64{user}, repo.Event{ID: id, Kind: repo.EventMessageNew, ConvID: 1, MsgID: id, Payload: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
	start := at(-30*time.Second, 0)

	// A page smaller than the committed backlog: has_more, cursor at the last one returned.
	p, err := store.Sync(c, user, repo.SyncCursor{At: start}, 3, safe, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 3 || !p.HasMore || p.Cursor.At != old[2] {
		t.Fatalf("first page: %d events, more %v, cursor %d (want %d)", len(p.Events), p.HasMore, p.Cursor.At, old[2])
	}
	// The rest: the fresh events come too, but the cursor stops at the safe point.
	p, err = store.Sync(c, user, p.Cursor, 10, safe, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 3 || p.Events[0].ID != old[3] || p.Events[2].ID != fresh[1] || p.HasMore || p.Cursor.At != safe {
		t.Fatalf("second page: %+v cursor %d want %d", p, p.Cursor.At, safe)
	}
	// A late writer commits an id below the newest one seen, but above the safe point:
	// the next call from the returned cursor still returns it.
	late := at(-3*time.Second, 7)
	if err := store.AppendEvent(c, []int64{user}, repo.Event{ID: late, Kind: repo.EventMessageNew, ConvID: 1, MsgID: late, Payload: "{}"}); err != nil {
		t.Fatal(err)
	}
	p, err = store.Sync(c, user, p.Cursor, 10, safe, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 3 || p.Events[0].ID != late {
		t.Fatalf("late event not returned: %+v", p.Events)
	}
	// A full page entirely above the safe point: no has_more (it would spin), cursor stays.
	p, err = store.Sync(c, user, repo.SyncCursor{At: safe}, 1, safe, now, nil)
	if err != nil || p.HasMore || p.Cursor.At != safe || len(p.Events) != 1 {
		t.Fatalf("page above the safe point: %+v %v", p, err)
	}
	// A cursor older than retention is reset.
	p, err = store.Sync(c, user, repo.SyncCursor{At: 5}, 10, safe, now, nil)
	if err != nil || !p.Reset {
		t.Fatalf("ancient cursor: %+v %v", p, err)
	}
}

// TestSyncWalksEmptyTimeInBoundedSteps: a cursor far behind (200 one-second
// buckets) is answered in several bounded calls, each moving the cursor on.
func TestSyncWalksEmptyTimeInBoundedSteps(t *testing.T) {
	c := ctx(t)
	user := gen.Next()
	now := time.Now().UTC()
	safe := snowflake.MinIDAt(now.Add(-5 * time.Second))
	ev := snowflake.MinIDAt(now.Add(-10*time.Second)) + 9
	if err := store.AppendEvent(c, []int64{user}, repo.Event{ID: ev, Kind: repo.EventMessageNew, ConvID: 1, MsgID: ev, Payload: "{}"}); err != nil {
		t.Fatal(err)
	}
	cursor := snowflake.MinIDAt(now.Add(-200 * time.Second))
	calls := 0
	var seen []int64
	for {
		calls++
		p, err := store.Sync(c, user, repo.SyncCursor{At: cursor}, 10, safe, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Cursor.At < cursor {
			t.Fatalf("cursor went back: %d -> %d", cursor, p.Cursor.At)
		}
		for _, e := range p.Events {
			seen = append(seen, e.ID)
		}
		cursor = p.Cursor.At
		if !p.HasMore {
			break
		}
		if calls > 10 {
			t.Fatal("sync did not finish in bounded steps")
		}
	}
	if calls < 3 || len(seen) != 1 || seen[0] != ev || cursor != safe {
		t.Fatalf("calls %d, seen %v, cursor %d (safe %d)", calls, seen, cursor, safe)
	}
}
