package api_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// brokenEvents is a second server on the same keyspace whose event writes all
// fail (their deadline has passed before they start): what a node sees when
// Cassandra times out between storing a membership change and its event.
func brokenEvents(t *testing.T) *env {
	session, _ := keyspace(t)
	return newEnvOn(t, session, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.SendDeadline = time.Nanosecond })
}

// A membership change stored without its event is repaired by the retry: the
// event reaches the members, and the retried request succeeds.
func TestMembershipEventRepairedOnRetry(t *testing.T) {
	e, bad := newEnv(t), brokenEvents(t)
	owner, m1, newbie := e.newUser("mo"), e.newUser("m1"), e.newUser("mn")
	conv := owner.group("repair", m1)
	watch := m1.dial()
	path := "/v1/conversations/" + conv + "/members/" + newbie.userID
	expect(t, bad.do("PUT", path, owner.token, nil), 503, "unavailable")
	expect(t, owner.do("PUT", path, nil), 200)
	if f := watch.next("member.added"); !strings.Contains(string(f.Data), newbie.userID) {
		t.Fatalf("member.added %s", f.Data)
	}
	expect(t, bad.do("DELETE", path, owner.token, nil), 503, "unavailable")
	expect(t, owner.do("DELETE", path, nil), 204)
	if f := watch.next("member.removed"); !strings.Contains(string(f.Data), newbie.userID) {
		t.Fatalf("member.removed %s", f.Data)
	}
	expect(t, owner.do("DELETE", path, nil), 404, "not_found")
}

// A group create retried with its client_group_id, after a failure and
// concurrently, makes one group; the retry delivers the creation event.
func TestGroupCreateRetriedConcurrently(t *testing.T) {
	e, bad := newEnv(t), brokenEvents(t)
	owner, m1, m2 := e.newUser("co"), e.newUser("c1"), e.newUser("c2")
	watch := m1.dial()
	body := map[string]any{"kind": "group", "name": "once", "member_ids": []string{m1.userID, m2.userID}, "client_group_id": "g-1"}
	expect(t, bad.do("POST", "/v1/conversations", owner.token, body), 503, "unavailable")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := owner.do("POST", "/v1/conversations", body)
			if r.status != 200 && r.status != 201 {
				t.Errorf("retry %d: %d %s", i, r.status, r.raw)
				return
			}
			ids[i] = r.body["conversation"].(map[string]any)["id"].(string)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("retries made different groups: %v", ids)
		}
	}
	if f := watch.next("member.added"); !strings.Contains(string(f.Data), ids[0]) {
		t.Fatalf("member.added %s", f.Data)
	}
	r := m2.do("GET", "/v1/conversations/"+ids[0], nil)
	expect(t, r, 200)
	if r.body["conversation"].(map[string]any)["member_count"] != float64(3) {
		t.Fatalf("group %s", r.raw)
	}
	n := 0
	for _, c := range chatList(t, owner, "") {
		if c["conversation"].(map[string]any)["name"] == "once" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the owner's list has %d groups named once", n)
	}
	// Another key makes another group.
	body["client_group_id"] = "g-2"
	r = owner.do("POST", "/v1/conversations", body)
	expect(t, r, 201)
	if r.body["conversation"].(map[string]any)["id"] == ids[0] {
		t.Fatal("a new client_group_id returned the old group")
	}
	body["client_group_id"] = strings.Repeat("x", 65)
	expect(t, owner.do("POST", "/v1/conversations", body), 400, "invalid_argument")
}

// Adding and removing one user at the same moment, many times, leaves the
// member row, the user's list row and (pull) the pull row in one state.
func TestConcurrentAddRemoveStaysConsistent(t *testing.T) {
	for _, mode := range []struct {
		name      string
		pushLimit int
	}{{"push", 100}, {"pull", 2}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Groups.PushMaxMembers = mode.pushLimit })
			owner, m1, x := e.newUser("ao"), e.newUser("a1"), e.newUser("ax")
			conv := owner.group("churn", m1)
			path := "/v1/conversations/" + conv + "/members/" + x.userID
			session, _ := keyspace(t)
			c, _ := strconv.ParseInt(conv, 10, 64)
			u, _ := strconv.ParseInt(x.userID, 10, 64)
			rows := func(q string, args ...any) int {
				var n int
				if err := session.Query(q, args...).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			for round := 0; round < 12; round++ {
				var wg sync.WaitGroup
				for _, m := range []string{"PUT", "DELETE", "PUT", "DELETE"} {
					wg.Add(1)
					go func() { defer wg.Done(); owner.do(m, path, nil) }()
				}
				wg.Wait()
				member := memberRowExists(t, conv, x.userID)
				listed := rows(`SELECT COUNT(*) FROM conversations_by_user WHERE user_id = ? AND conv_id = ?`, u, c) == 1
				pulled := rows(`SELECT COUNT(*) FROM pull_conversations_by_user WHERE user_id = ? AND conv_id = ?`, u, c) == 1
				if listed != member || (mode.name == "pull" && pulled != member) {
					t.Fatalf("round %d: member row %v, list row %v, pull row %v", round, member, listed, pulled)
				}
				status := x.do("GET", "/v1/conversations/"+conv+"/messages", nil).status
				if (status == 200) != member {
					t.Fatalf("round %d: member %v but history answers %d", round, member, status)
				}
			}
		})
	}
}

// unfinishedCreate makes a group whose create's event failed (the key stays
// unfinished) and returns its id.
func unfinishedCreate(t *testing.T, bad *env, owner *client, body map[string]any) string {
	t.Helper()
	expect(t, bad.do("POST", "/v1/conversations", owner.token, body), 503, "unavailable")
	session, ks := keyspace(t)
	oid, _ := strconv.ParseInt(owner.userID, 10, 64)
	var conv int64
	if err := session.Query("SELECT conv_id FROM "+ks+".group_create_dedupe WHERE creator_id = ? AND client_group_id = ?", oid, body["client_group_id"]).Scan(&conv); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(conv, 10)
}

// Retrying a create that wrote its group but did not finish rewrites no
// membership: who left stays out, a transferred ownership stays moved; and
// a group deleted meanwhile answers 404 instead of coming back.
func TestUnfinishedGroupCreateRetryRewritesNoMembership(t *testing.T) {
	e, bad := newEnv(t), brokenEvents(t)
	owner, x, y := e.newUser("uo"), e.newUser("ux"), e.newUser("uy")
	body := map[string]any{"kind": "group", "name": "g", "member_ids": []string{x.userID, y.userID}, "client_group_id": "u-1"}
	conv := unfinishedCreate(t, bad, owner, body)
	expect(t, x.do("DELETE", "/v1/conversations/"+conv+"/members/"+x.userID, nil), 204)
	expect(t, owner.do("PUT", "/v1/conversations/"+conv+"/members/"+y.userID, map[string]any{"role": "owner"}), 200)
	for i := 0; i < 2; i++ { // the first retry finishes the key, the second finds it done
		r := owner.do("POST", "/v1/conversations", body)
		expect(t, r, 200)
		if got := r.body["conversation"].(map[string]any); got["id"] != conv || got["member_count"] != float64(2) {
			t.Fatalf("retry %d: %s", i, r.raw)
		}
		expect(t, x.do("GET", "/v1/conversations/"+conv+"/messages", nil), 403, "permission_denied")
		if o, n := owner.role(conv), y.role(conv); o != "admin" || n != "owner" {
			t.Fatalf("retry %d: creator is %s, new owner is %s", i, o, n)
		}
	}

	body["client_group_id"] = "u-2"
	conv = unfinishedCreate(t, bad, owner, body)
	expect(t, owner.do("DELETE", "/v1/conversations/"+conv, nil), 204)
	for i := 0; i < 2; i++ {
		expect(t, owner.do("POST", "/v1/conversations", body), 404, "not_found")
		expect(t, y.do("GET", "/v1/conversations/"+conv, nil), 404, "not_found")
		expect(t, x.do("GET", "/v1/conversations/"+conv+"/messages", nil), 404, "not_found")
	}
}
