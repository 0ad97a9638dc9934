package api_test

import (
	"sync"
	"testing"
	"time"
)

func (c *client) contactState(other *client) string {
	c.t.Helper()
	r := c.do("GET", "/v1/contacts?limit=100", nil)
	expect(c.t, r, 200)
	for _, x := range r.body["contacts"].([]any) {
		ct := x.(map[string]any)
		if ct["user"].(map[string]any)["id"] == other.userID {
			return ct["state"].(string)
		}
	}
	return ""
}

func TestContactsLifecycle(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ca"), e.newUser("cb")
	r := a.do("PUT", "/v1/contacts/"+b.userID, nil)
	expect(t, r, 200)
	if r.body["state"] != "requested" || a.contactState(b) != "requested" || b.contactState(a) != "pending" {
		t.Fatalf("after request: %s / %q / %q", r.raw, a.contactState(b), b.contactState(a))
	}
	pending := b.do("GET", "/v1/contacts?state=pending", nil)
	if len(pending.body["contacts"].([]any)) != 1 {
		t.Fatalf("state filter: %s", pending.raw)
	}
	expect(t, b.do("PUT", "/v1/contacts/"+a.userID, nil), 200) // accept
	if a.contactState(b) != "accepted" || b.contactState(a) != "accepted" {
		t.Fatal("not accepted on both sides")
	}
	expect(t, a.do("DELETE", "/v1/contacts/"+b.userID, nil), 204)
	if a.contactState(b) != "" || b.contactState(a) != "" {
		t.Fatal("removal left a row")
	}
	t.Run("decline and cancel", func(t *testing.T) {
		expect(t, a.do("PUT", "/v1/contacts/"+b.userID, nil), 200)
		expect(t, b.do("DELETE", "/v1/contacts/"+a.userID, nil), 204) // decline
		if a.contactState(b) != "" || b.contactState(a) != "" {
			t.Fatal("decline left a row")
		}
		expect(t, a.do("PUT", "/v1/contacts/"+b.userID, nil), 200)
		expect(t, a.do("DELETE", "/v1/contacts/"+b.userID, nil), 204) // cancel
		if b.contactState(a) != "" {
			t.Fatal("cancel left a row")
		}
	})
	t.Run("bad input", func(t *testing.T) {
		expect(t, a.do("PUT", "/v1/contacts/"+a.userID, nil), 400, "invalid_argument")
		expect(t, a.do("PUT", "/v1/contacts/99", nil), 404, "not_found")
		expect(t, a.do("GET", "/v1/contacts?state=friends", nil), 400, "invalid_argument")
	})
}

// Requests from both sides at the same moment, and removals among them: both
// users' rows always agree.
func TestConcurrentContactChangesAgree(t *testing.T) {
	e := newEnv(t)
	mirror := map[string]string{"requested": "pending", "pending": "requested", "accepted": "accepted", "": ""}
	for round := 0; round < 8; round++ {
		a, b := e.newUser("xa"), e.newUser("xb")
		var wg sync.WaitGroup
		ops := []func(){
			func() { a.do("PUT", "/v1/contacts/"+b.userID, nil) },
			func() { b.do("PUT", "/v1/contacts/"+a.userID, nil) },
		}
		if round%2 == 1 {
			ops = append(ops, func() { a.do("DELETE", "/v1/contacts/"+b.userID, nil) })
		}
		for _, op := range ops {
			wg.Add(1)
			go func() { defer wg.Done(); op() }()
		}
		wg.Wait()
		sa, sb := a.contactState(b), b.contactState(a)
		if mirror[sa] != sb {
			t.Fatalf("round %d: a sees %q, b sees %q", round, sa, sb)
		}
		if round%2 == 0 && sa != "accepted" {
			t.Fatalf("round %d: both asked at once but the state is %q", round, sa)
		}
	}
}

func TestBlocks(t *testing.T) {
	e := newEnv(t)
	blocker, blocked, friend := e.newUser("bk"), e.newUser("bd"), e.newUser("bf")
	dm := blocked.direct(blocker)
	expect(t, blocker.do("PUT", "/v1/contacts/"+blocked.userID, nil), 200)
	expect(t, blocker.do("PUT", "/v1/blocks/"+blocked.userID, nil), 204)
	if blocker.contactState(blocked) != "" || blocked.contactState(blocker) != "" {
		t.Fatal("a block must end the contact request")
	}
	r := blocker.do("GET", "/v1/blocks", nil)
	if len(r.body["blocks"].([]any)) != 1 {
		t.Fatalf("block list %s", r.raw)
	}
	blocker.dial() // online, but not to the blocked user
	for deadline := time.Now().Add(10 * time.Second); !blocker.presenceOf(blocker).Online; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the blocker's socket never came online")
		}
	}
	checks := func(t *testing.T, want int) {
		t.Helper()
		st := func(r resp) int { return r.status }
		got := []int{
			st(blocked.do("POST", "/v1/conversations", map[string]any{"kind": "direct", "member_ids": []string{blocker.userID}})),
			st(blocked.send(dm, "x"+time.Now().String(), "hello?")),
			st(blocked.do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "g", "member_ids": []string{blocker.userID}})),
			st(blocked.do("PUT", "/v1/contacts/"+blocker.userID, nil)),
		}
		g := blocked.group("g2", friend)
		got = append(got, st(blocked.do("PUT", "/v1/conversations/"+g+"/members/"+blocker.userID, nil)))
		for i, s := range got {
			if (want == 403 && s != 403) || (want != 403 && s >= 400) {
				t.Fatalf("check %d: status %d (blocked=%v)", i, s, want == 403)
			}
		}
		p := blocked.do("GET", "/v1/presence?user_ids="+blocker.userID, nil)
		online := p.body["presence"].([]any)[0].(map[string]any)["online"]
		if (want == 403) == (online == true) {
			t.Fatalf("presence seen through a block: %s", p.raw)
		}
	}
	t.Run("blocked", func(t *testing.T) { checks(t, 403) })
	// The blocker can still talk to others and see the blocked user's profile.
	expect(t, blocker.do("GET", "/v1/users/"+blocked.userID, nil), 200)
	expect(t, blocker.do("DELETE", "/v1/blocks/"+blocked.userID, nil), 204)
	t.Run("unblocked", func(t *testing.T) { checks(t, 200) })
}
