package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/internal/testcluster"
)

// Account deletion (docs/accounts.md) against real chatd nodes, the real
// Cassandra node and the S3 server.

// uploadMedia declares, PUTs and completes a small upload of c's.
func uploadMedia(t *testing.T, c *testcluster.Client) string {
	t.Helper()
	body := []byte("a picture, of sorts")
	st, created := c.Do("POST", "/v1/media", map[string]any{"content_type": "image/png", "size": len(body), "purpose": "message"})
	if st != 201 {
		t.Fatalf("declare upload: %d %v", st, created)
	}
	req, _ := http.NewRequest("PUT", created["upload_url"].(string), bytes.NewReader(body))
	for k, v := range created["upload_headers"].(map[string]any) {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header.Set(k, v.(string))
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("PUT upload: %d", res.StatusCode)
	}
	id := created["media_id"].(string)
	if st, body := c.Do("POST", "/v1/media/"+id+"/complete", nil); st != 200 {
		t.Fatalf("complete upload: %d %v", st, body)
	}
	return id
}

// deletionDone polls until no deletion of userID is recorded.
func deletionDone(t *testing.T, db *notifyDB, userID string) {
	t.Helper()
	uid, _ := strconv.ParseInt(userID, 10, 64)
	var n int
	var err error
	eventually(t, 60*time.Second, func() bool {
		err = db.s.Query(`SELECT COUNT(*) FROM account_deletions WHERE shard = ? AND user_id = ?`, uid%16, uid).Scan(&n)
		return err == nil && n == 0
	}, func() string { return fmt.Sprintf("the deletion of %s is still recorded (%d, %v)", userID, n, err) })
}

func groupOf(t *testing.T, owner *testcluster.Client, name string, members ...*testcluster.Client) string {
	t.Helper()
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	st, body := owner.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": name, "member_ids": ids})
	if st != 201 {
		t.Fatalf("create group %s: %d %v", name, st, body)
	}
	return body["conversation"].(map[string]any)["id"].(string)
}

func memberIDsOf(t *testing.T, c *testcluster.Client, conv string) []string {
	t.Helper()
	st, body := c.Do("GET", "/v1/conversations/"+conv+"/members", nil)
	if st != 200 {
		t.Fatalf("members of %s: %d %v", conv, st, body)
	}
	var ids []string
	for _, m := range body["members"].([]any) {
		ids = append(ids, m.(map[string]any)["user_id"].(string))
	}
	return ids
}

func TestAccountDeletion(t *testing.T) {
	env := clusterEnv(t)
	env["RINGCHAT_HANDLE_HOLD"] = "1h"
	node := testcluster.Start(t, env)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(node.Logs())
		}
	})
	db := openNotifyDB(t, env["RINGCHAT_KEYSPACE"])
	alice := testcluster.Register(t, node, "delalice")
	bob := testcluster.Register(t, node, "delbob")
	carol := testcluster.Register(t, node, "delcarol")
	second := testcluster.Login(t, node, alice.Handle) // another device of alice's

	if st, _ := alice.Do("PUT", "/v1/contacts/"+bob.UserID, nil); st != 200 {
		t.Fatalf("contact request: %d", st)
	}
	if st, _ := bob.Do("PUT", "/v1/contacts/"+alice.UserID, nil); st != 200 {
		t.Fatalf("contact accept: %d", st)
	}
	dm := alice.Direct(bob)
	_, said := alice.Send(dm, testcluster.UUIDv7(time.Now()), "before I go")
	owned := groupOf(t, alice, "alice's", bob, carol)
	joined := groupOf(t, carol, "carol's", alice)
	media := uploadMedia(t, alice)
	st, got := alice.Do("GET", "/v1/media/"+media, nil)
	if st != 200 {
		t.Fatalf("download URL: %d %v", st, got)
	}
	objectURL := got["download_url"].(string) // presigned: still signed after the deletion, the object gone
	if st, _ := carol.Do("PUT", "/v1/blocks/"+alice.UserID, nil); st != 204 {
		t.Fatalf("block: %d", st)
	}
	sock := second.Dial()

	// A wrong password changes nothing; nor does a missing one.
	if st, body := alice.Do("POST", "/v1/me/delete", map[string]any{"password": "not my password"}); st != 403 {
		t.Fatalf("wrong password: %d %v", st, body)
	}
	if st, body := alice.Do("POST", "/v1/me/delete", map[string]any{}); st != 400 {
		t.Fatalf("no password: %d %v", st, body)
	}
	if st, _ := alice.Do("GET", "/v1/me", nil); st != 200 {
		t.Fatalf("after a refused deletion: %d", st)
	}

	if st, body := alice.Do("POST", "/v1/me/delete", map[string]any{"password": "correct horse"}); st != 204 {
		t.Fatalf("delete: %d %v", st, body)
	}
	// At once: every session and socket ended, no login.
	if err := sock.Closed(10 * time.Second); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Errorf("the other device's socket: %v, want closed 1008", err)
	}
	for _, c := range []*testcluster.Client{alice, second} {
		if st, _ := c.Do("GET", "/v1/me", nil); st != 401 {
			t.Errorf("a session after deletion: %d, want 401", st)
		}
	}
	if st, _ := testcluster.Call(t, "POST", node.URL+"/v1/auth/login", "", map[string]any{"handle": alice.Handle, "password": "correct horse"}); st != 401 {
		t.Errorf("login after deletion: %d, want 401", st)
	}

	deletionDone(t, db, alice.UserID)
	if st, body := bob.Do("GET", "/v1/users/"+alice.UserID, nil); st != 200 || body["user"].(map[string]any)["deleted"] != true || body["user"].(map[string]any)["handle"] != "" {
		t.Errorf("the deleted profile: %d %v", st, body)
	}
	if st, _ := bob.Do("GET", "/v1/users?handle="+alice.Handle, nil); st != 404 {
		t.Errorf("finding the deleted handle: %d, want 404", st)
	}
	if st, body := bob.Do("GET", "/v1/contacts", nil); st != 200 || strings.Contains(fmt.Sprint(body), alice.UserID) {
		t.Errorf("bob's contacts still hold alice: %d %v", st, body)
	}
	for _, g := range []string{owned, joined} {
		if ids := memberIDsOf(t, carol, g); strings.Contains(strings.Join(ids, ","), alice.UserID) {
			t.Errorf("alice still a member of %s: %v", g, ids)
		}
	}
	if st, body := bob.Do("GET", "/v1/conversations/"+owned, nil); st != 200 || body["conversation"] == nil {
		t.Errorf("the group alice owned is gone for its members: %d %v", st, body)
	}
	// The DM stays readable, alice's message with it; bob's sends are refused.
	if st, body := bob.Do("GET", "/v1/conversations/"+dm+"/messages", nil); st != 200 || !strings.Contains(fmt.Sprint(body), said) {
		t.Errorf("bob's DM history lost alice's message: %d %v", st, body)
	}
	if st, _ := bob.Send(dm, testcluster.UUIDv7(time.Now()), "hello?"); st != 403 {
		t.Errorf("a send to the deleted account: %d, want 403", st)
	}
	if st, _ := carol.Do("POST", "/v1/conversations", map[string]any{"kind": "direct", "member_ids": []string{alice.UserID}}); st != 404 {
		t.Errorf("a new DM with the deleted account: %d, want 404", st)
	}
	// Undoing a relation with it still works.
	if st, _ := carol.Do("DELETE", "/v1/blocks/"+alice.UserID, nil); st != 204 {
		t.Errorf("unblocking the deleted account: %d, want 204", st)
	}
	if st, _ := bob.Do("DELETE", "/v1/contacts/"+alice.UserID, nil); st != 204 {
		t.Errorf("removing a (gone) contact with the deleted account: %d, want 204", st)
	}
	if st, _ := carol.Do("PUT", "/v1/conversations/"+joined+"/members/"+alice.UserID, nil); st != 404 {
		t.Errorf("adding the deleted account to a group: %d, want 404", st)
	}
	if st, _ := bob.Do("GET", "/v1/media/"+media, nil); st != 404 {
		t.Errorf("the deleted account's upload: %d, want 404", st)
	}
	res, err := http.Get(objectURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("the deleted account's object in the store: %d, want 404", res.StatusCode)
	}
	var leftRows int
	if err := db.s.Query(`SELECT COUNT(*) FROM conversations_by_user WHERE user_id = ?`, mustID(alice.UserID)).Scan(&leftRows); err != nil || leftRows != 1 {
		t.Errorf("alice's chat list keeps %d rows (%v), want the DM's alone", leftRows, err)
	}

	// The handle is held (TestAccountDeletionSurvivesKill: then free).
	if st := register(t, node, alice.Handle); st != 409 {
		t.Errorf("registering the held handle: %d, want 409", st)
	}

	// A request that failed after the mark (here: marked by hand, its
	// session left alive) is retried: no password to check any more, the
	// deletion finishes, the session ends.
	dave := testcluster.Register(t, node, "deldave")
	if err := db.s.Query(`UPDATE users SET deleted_at = toTimestamp(now()), password_hash = '' WHERE user_id = ?`, mustID(dave.UserID)).Exec(); err != nil {
		t.Fatal(err)
	}
	if st, body := dave.Do("POST", "/v1/me/delete", map[string]any{"password": "anything"}); st != 204 {
		t.Fatalf("the retried deletion: %d %v", st, body)
	}
	if st, _ := dave.Do("GET", "/v1/me", nil); st != 401 {
		t.Errorf("the session after the retried deletion: %d, want 401", st)
	}
	deletionDone(t, db, dave.UserID)
}

func register(t *testing.T, node *testcluster.Node, handle string) int {
	st, _ := testcluster.Call(t, "POST", node.URL+"/v1/auth/register", "", map[string]any{"handle": handle, "password": "correct horse"})
	return st
}

func mustID(s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// A deletion interrupted by kill -9 half-way is finished by another node.
func TestAccountDeletionSurvivesKill(t *testing.T) {
	env := clusterEnv(t)
	env["RINGCHAT_DELETION_SWEEP"] = "250ms"
	env["RINGCHAT_HANDLE_HOLD"] = "1s"
	slow := map[string]string{}
	for k, v := range env {
		slow[k] = v
	}
	slow["RINGCHAT_DEBUG_DELETION_DELAY"] = "500ms" // held half-way through its groups
	first := testcluster.Start(t, slow)
	db := openNotifyDB(t, env["RINGCHAT_KEYSPACE"])
	leaver := testcluster.Register(t, first, "killdel")
	owner := testcluster.Register(t, first, "killown")
	var groups []string
	for i := range 6 {
		groups = append(groups, groupOf(t, owner, fmt.Sprintf("g%d", i), leaver))
	}
	if st, body := leaver.Do("POST", "/v1/me/delete", map[string]any{"password": "correct horse"}); st != 204 {
		t.Fatalf("delete: %d %v", st, body)
	}
	// Killed half-way: once the first group is left (the run waits half a
	// second before each), and before the last.
	held := func() int {
		still := 0
		for _, g := range groups {
			var n int
			if err := db.s.Query(`SELECT COUNT(*) FROM members_by_conversation WHERE conv_id = ? AND user_id = ?`, mustID(g), mustID(leaver.UserID)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			still += n
		}
		return still
	}
	eventually(t, 60*time.Second, func() bool { return held() < len(groups) }, func() string { return "the deletion left no group" })
	first.Kill()
	if still := held(); still == 0 {
		t.Fatalf("every group was left before the kill: not interrupted half-way")
	}
	second := testcluster.Start(t, env)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(second.Logs())
		}
	})
	deletionDone(t, db, leaver.UserID)
	for _, g := range groups {
		if ids := memberIDsOf(t, owner.On(second), g); strings.Contains(strings.Join(ids, ","), leaver.UserID) {
			t.Errorf("group %s still holds the deleted account: %v", g, ids)
		}
	}
	if st, _ := testcluster.Call(t, "POST", second.URL+"/v1/auth/login", "", map[string]any{"handle": leaver.Handle, "password": "correct horse"}); st != 401 {
		t.Errorf("login after the finished deletion: %d, want 401", st)
	}
	// Its hold (1 s) has passed: the handle is a new account's, whose
	// login works and whose profile is its own.
	if st := register(t, second, leaver.Handle); st != 201 {
		t.Fatalf("registering the freed handle: %d, want 201", st)
	}
	fresh := testcluster.Login(t, second, leaver.Handle)
	if fresh.UserID == leaver.UserID {
		t.Fatalf("the freed handle logs into the deleted account")
	}
}
