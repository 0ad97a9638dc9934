package api_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// A user in more pull-mode groups than one sync call reads (230 > 200) gets
// every message of every group, through cursors that carry where they are.
func TestSyncNeverSkipsPastManyPullGroups(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Groups.PushMaxMembers = 1 })
	owner, v := e.newUser("po"), e.newUser("pv")
	_, cursor := v.syncAll("")
	const n = 230
	convs := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := owner.do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": fmt.Sprintf("p%d", i), "member_ids": []string{v.userID}})
			if r.status != 201 {
				t.Errorf("create %d: %d %s", i, r.status, r.raw)
				return
			}
			convs[i] = r.body["conversation"].(map[string]any)["id"].(string)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	want := map[string]bool{}
	for i, conv := range convs {
		if i%5 == 0 || i >= n-40 { // many in the groups with the largest ids
			want[sendRetrying(t, owner, conv, fmt.Sprintf("m%d", i))] = true
		}
	}
	events, _ := v.syncSettled(cursor)
	got := map[string]int{}
	for _, ev := range events {
		if ev["type"] == "message.new" {
			got[ev["data"].(map[string]any)["id"].(string)]++
		}
	}
	var missing []string
	for id := range want {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("sync skipped %d of %d messages in pull groups", len(missing), len(want))
	}
}

// sendRetrying sends as a client does on a busy node: 503 is retried with the
// same client_msg_id.
func sendRetrying(t *testing.T, c *client, conv, body string) string {
	t.Helper()
	for i := 0; i < 5; i++ {
		r := c.send(conv, "k-"+conv+body, body)
		if r.status == 201 || r.status == 200 {
			return r.body["message"].(map[string]any)["id"].(string)
		}
		if r.status != 503 {
			expect(t, r, 201)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("send %s kept failing", body)
	return ""
}

// Pull-group memberships of a user are capped: past it an add or a create
// that includes them answers 409 with a clear message, and leaving frees room.
func TestPullGroupMembershipsAreCapped(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) {
		c.Groups.PushMaxMembers, c.Groups.MaxPullGroups = 1, 3
	})
	owner, v, other := e.newUser("qo"), e.newUser("qv"), e.newUser("qx")
	var convs []string
	for i := 0; i < 3; i++ { // each by another creator: creators count too
		convs = append(convs, e.newUser("qc").group(fmt.Sprintf("q%d", i), v))
	}
	r := owner.do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "one too many", "member_ids": []string{v.userID}})
	expect(t, r, 409, "conflict")
	if !strings.Contains(string(r.raw), v.userID) {
		t.Fatalf("the error does not name the user: %s", r.raw)
	}
	conv := owner.group("without v", other)
	expect(t, owner.do("PUT", "/v1/conversations/"+conv+"/members/"+v.userID, nil), 409, "conflict")
	expect(t, v.do("DELETE", "/v1/conversations/"+convs[0]+"/members/"+v.userID, nil), 204)
	expect(t, owner.do("PUT", "/v1/conversations/"+conv+"/members/"+v.userID, nil), 200)
}

// A push group growing past the push threshold makes every member's syncs read
// it: the add that switches it is refused (409 naming the member) when any
// existing member is at the cap, so small groups topped up one filler each
// never put a user past it.
func TestSwitchToPullChecksEveryMemberAgainstTheCap(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) {
		c.Groups.PushMaxMembers, c.Groups.MaxPullGroups = 2, 2
	})
	v := e.newUser("sv")
	var refused []string
	for i := 0; i < 5; i++ {
		adder := e.newUser("sa")
		conv := adder.group(fmt.Sprintf("push-%d", i), v) // two members: push, nothing to check
		r := adder.do("PUT", "/v1/conversations/"+conv+"/members/"+e.newUser("sf").userID, nil)
		if r.status == 409 {
			if !strings.Contains(string(r.raw), v.userID) {
				t.Fatalf("the refusal does not name the member at the cap: %s", r.raw)
			}
			refused = append(refused, conv)
			continue
		}
		expect(t, r, 200)
	}
	vid, _ := strconv.ParseInt(v.userID, 10, 64)
	n, err := e.store.PullGroupCount(t.Context(), vid, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(refused) != 3 {
		t.Fatalf("v is in %d pull groups (cap 2); %d of 5 switching adds refused", n, len(refused))
	}
	// A refused group stays push: messages still reach every inbox.
	cid, _ := strconv.ParseInt(refused[0], 10, 64)
	if f, err := e.store.Fanout(t.Context(), cid); err != nil || f != repo.FanoutPush {
		t.Fatalf("a refused group switched anyway: fanout %q, %v", f, err)
	}
}
