package repo_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

func deviceIndexRows(t *testing.T, userID, deviceID int64) int {
	t.Helper()
	var n int
	if err := raw.Query("SELECT COUNT(*) FROM "+ks+".sessions_by_device WHERE user_id = ? AND device_id = ?", userID, deviceID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func tokenHash(i int) []byte { return []byte(fmt.Sprintf("token-%020d-%d", i, time.Now().UnixNano())) }

func TestResumeDeviceSessionUnindexesEndedTokens(t *testing.T) {
	c := ctx(t)
	now := time.Now().UTC()
	d := repo.Device{UserID: gen.Next(), ID: gen.Next(), Name: "phone"}
	last := tokenHash(0)
	if _, err := store.CreateDeviceSession(c, d, last, now); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		h := tokenHash(i)
		if _, err := store.ResumeDeviceSession(c, d.UserID, d.ID, "", h, now); err != nil {
			t.Fatal(err)
		}
		if _, err := store.GetSession(c, last); !repo.IsCode(err, repo.CodeUnauthenticated) {
			t.Fatalf("token of before the login again still works: %v", err)
		}
		last = h
	}
	if n := deviceIndexRows(t, d.UserID, d.ID); n != 1 {
		t.Fatalf("device holding one token has %d index rows after 5 logins again", n)
	}
}

// Index rows of tokens ended before they were unindexed with them (left by
// older nodes, live for 30 days) must never make a login at the cap retire
// the user's live devices.
func TestPruneAtCapKeepsLiveDevicesBesideLeftoverIndexRows(t *testing.T) {
	c := ctx(t)
	now := time.Now().UTC()
	uid := gen.Next()
	first := repo.Device{UserID: uid, ID: 1, Name: "oldest"} // sorts first in the partition
	if _, err := store.CreateDeviceSession(c, first, tokenHash(-1), now); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 800; i++ {
		if err := raw.Query("INSERT INTO "+ks+".sessions_by_device (user_id, device_id, token_hash) VALUES (?, ?, ?) USING TTL 3600", uid, first.ID, tokenHash(i)).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	live := map[int64][]byte{}
	for i := 0; i < repo.MaxDevicesPerUser-1; i++ {
		d := repo.Device{UserID: uid, ID: gen.Next(), Name: "d"}
		h := tokenHash(1000 + i)
		if _, err := store.CreateDeviceSession(c, d, h, now); err != nil {
			t.Fatal(err)
		}
		live[d.ID] = h
	}
	// Past the grace of logins under way: pruning judges by tokens alone.
	later := now.Add(2 * time.Minute)
	_, err := store.CreateDeviceSession(c, repo.Device{UserID: uid, ID: gen.Next(), Name: "one too many"}, tokenHash(5000), later)
	if !repo.IsCode(err, repo.CodeConflict) {
		t.Fatalf("login at the cap of live devices: %v, want conflict", err)
	}
	dead := 0
	for _, h := range live {
		if _, err := store.GetSession(c, h); err != nil {
			dead++
		}
	}
	if ds, _ := store.ListDevices(c, uid); dead > 0 || len(ds) != repo.MaxDevicesPerUser {
		t.Fatalf("a login at the cap ended %d live devices (%d listed)", dead, len(ds))
	}
}
