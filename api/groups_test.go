package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

func (c *client) group(name string, members ...*client) string {
	c.t.Helper()
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.userID
	}
	r := c.do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": name, "member_ids": ids})
	expect(c.t, r, 201)
	return r.body["conversation"].(map[string]any)["id"].(string)
}

func (c *client) role(conv string) string {
	c.t.Helper()
	r := c.do("GET", "/v1/conversations/"+conv, nil)
	if r.status != 200 {
		return ""
	}
	return r.body["conversation"].(map[string]any)["my_role"].(string)
}

func TestGroupLifecycle(t *testing.T) {
	e := newEnv(t)
	owner, admin, m1, m2, late := e.newUser("go"), e.newUser("ga"), e.newUser("g1"), e.newUser("g2"), e.newUser("gl")
	_, syncCursor := m1.syncAll("")
	watch := m1.dial()
	conv := owner.group("friends", admin, m1, m2)
	if f := watch.next("member.added"); !strings.Contains(string(f.Data), conv) || f.EventID == "" {
		t.Fatalf("member.added %s", f.Data)
	}
	r := m1.do("GET", "/v1/conversations/"+conv, nil)
	expect(t, r, 200)
	if c := r.body["conversation"].(map[string]any); c["kind"] != "group" || c["name"] != "friends" || c["member_count"] != float64(4) || c["my_role"] != "member" {
		t.Fatalf("conversation %s", r.raw)
	}
	expect(t, owner.do("PUT", "/v1/conversations/"+conv+"/members/"+admin.userID, map[string]any{"role": "admin"}), 200)
	if admin.role(conv) != "admin" {
		t.Fatal("role not changed")
	}
	watch.next("member.updated")

	expect(t, admin.do("PATCH", "/v1/conversations/"+conv, map[string]any{"name": "best friends", "announcement": "hi all"}), 200)
	if f := watch.next("conversation.updated"); !strings.Contains(string(f.Data), "best friends") {
		t.Fatalf("conversation.updated %s", f.Data)
	}
	expect(t, admin.do("PUT", "/v1/conversations/"+conv+"/members/"+late.userID, nil), 200)
	watch.next("member.added")
	lm := late.do("GET", "/v1/conversations/"+conv+"/members?limit=2", nil)
	expect(t, lm, 200)
	if len(lm.body["members"].([]any)) != 2 || lm.body["next_cursor"] == nil {
		t.Fatalf("members page: %s", lm.raw)
	}
	expect(t, admin.do("DELETE", "/v1/conversations/"+conv+"/members/"+m2.userID, nil), 204)
	watch.next("member.removed")
	expect(t, m2.do("GET", "/v1/conversations/"+conv, nil), 403, "permission_denied")
	// The same membership events come through sync, in order, for a device that was away.
	events, _ := m1.syncSettled(syncCursor)
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev["type"].(string))
	}
	if strings.Join(kinds, ",") != "member.added,member.updated,conversation.updated,member.added,member.removed" {
		t.Fatalf("membership events through sync: %v", kinds)
	}
	expect(t, m1.do("DELETE", "/v1/conversations/"+conv+"/members/"+m1.userID, nil), 204) // leave

	t.Run("owner leaving hands over to the longest-standing admin", func(t *testing.T) {
		expect(t, owner.do("DELETE", "/v1/conversations/"+conv+"/members/"+owner.userID, nil), 204)
		if admin.role(conv) != "owner" {
			t.Fatalf("admin's role after the owner left: %q", admin.role(conv))
		}
		expect(t, owner.do("GET", "/v1/conversations/"+conv, nil), 403, "permission_denied")
	})
	t.Run("without admins, the longest-standing member", func(t *testing.T) {
		a, b, c := e.newUser("gx"), e.newUser("gy"), e.newUser("gz")
		g := a.group("three", b, c)
		expect(t, a.do("DELETE", "/v1/conversations/"+g+"/members/"+a.userID, nil), 204)
		if b.role(g) != "owner" && c.role(g) != "owner" {
			t.Fatal("nobody inherited the group")
		}
	})
	t.Run("delete", func(t *testing.T) {
		expect(t, late.do("DELETE", "/v1/conversations/"+conv, nil), 403, "permission_denied")
		expect(t, admin.do("DELETE", "/v1/conversations/"+conv, nil), 204)
		expect(t, late.do("GET", "/v1/conversations/"+conv, nil), 404, "not_found")
		expect(t, admin.send(conv, "after-delete", "hello?"), 404, "not_found")
	})
}

// Every group action by every role, and by a non-member.
func TestGroupPermissions(t *testing.T) {
	e := newEnv(t)
	type actors struct{ owner, admin, member, other, outsider, victim *client }
	setup := func() (actors, string) {
		a := actors{e.newUser("po"), e.newUser("pa"), e.newUser("pm"), e.newUser("px"), e.newUser("pn"), e.newUser("pv")}
		conv := a.owner.group("perm", a.admin, a.member, a.victim)
		expect(t, a.owner.do("PUT", "/v1/conversations/"+conv+"/members/"+a.admin.userID, map[string]any{"role": "admin"}), 200)
		return a, conv
	}
	actions := map[string]func(a actors, by *client, conv string) resp{
		"rename": func(a actors, by *client, conv string) resp {
			return by.do("PATCH", "/v1/conversations/"+conv, map[string]any{"name": "x"})
		},
		"add member": func(a actors, by *client, conv string) resp {
			return by.do("PUT", "/v1/conversations/"+conv+"/members/"+a.other.userID, nil)
		},
		"remove member": func(a actors, by *client, conv string) resp {
			return by.do("DELETE", "/v1/conversations/"+conv+"/members/"+a.victim.userID, nil)
		},
		"make admin": func(a actors, by *client, conv string) resp {
			return by.do("PUT", "/v1/conversations/"+conv+"/members/"+a.victim.userID, map[string]any{"role": "admin"})
		},
		"remove an admin": func(a actors, by *client, conv string) resp {
			// The victim is made a second admin, so an admin removing them is not leaving.
			expect(t, a.owner.do("PUT", "/v1/conversations/"+conv+"/members/"+a.victim.userID, map[string]any{"role": "admin"}), 200)
			return by.do("DELETE", "/v1/conversations/"+conv+"/members/"+a.victim.userID, nil)
		},
		"delete": func(a actors, by *client, conv string) resp { return by.do("DELETE", "/v1/conversations/"+conv, nil) },
		"read history": func(a actors, by *client, conv string) resp {
			return by.do("GET", "/v1/conversations/"+conv+"/messages", nil)
		},
	}
	// want[action] = statuses for owner, admin, member, non-member
	want := map[string][4]int{
		"rename":          {200, 200, 403, 403},
		"add member":      {200, 200, 403, 403},
		"remove member":   {204, 204, 403, 403},
		"make admin":      {200, 403, 403, 403},
		"remove an admin": {204, 403, 403, 403},
		"delete":          {204, 403, 403, 403},
		"read history":    {200, 200, 200, 403},
	}
	for name, do := range actions {
		for i, role := range []string{"owner", "admin", "member", "non-member"} {
			t.Run(name+"/"+role, func(t *testing.T) {
				a, conv := setup()
				by := []*client{a.owner, a.admin, a.member, a.outsider}[i]
				r := do(a, by, conv)
				if r.status != want[name][i] {
					t.Fatalf("%s by %s: %d, want %d: %s", name, role, r.status, want[name][i], r.raw)
				}
			})
		}
	}
}

func TestGroupSizeBound(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Groups.MaxMembers = 4 })
	users := []*client{e.newUser("s0"), e.newUser("s1"), e.newUser("s2"), e.newUser("s3"), e.newUser("s4")}
	ids := []string{users[1].userID, users[2].userID, users[3].userID, users[4].userID}
	expect(t, users[0].do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "big", "member_ids": ids}), 400, "invalid_argument")
	conv := users[0].group("full", users[1], users[2], users[3])
	expect(t, users[0].do("PUT", "/v1/conversations/"+conv+"/members/"+users[4].userID, nil), 400, "invalid_argument")
	expect(t, users[0].do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "", "member_ids": ids[:1]}), 400, "invalid_argument")
	expect(t, users[0].do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "x", "member_ids": []string{"424242"}}), 404, "not_found")
}

// A removed member stops receiving at once and reads nothing sent after removal.
func TestRemovalIsImmediate(t *testing.T) {
	e := newEnv(t)
	owner, stay, gone := e.newUser("ro"), e.newUser("rs"), e.newUser("rg")
	conv := owner.group("r", stay, gone)
	_, cursor := gone.syncAll("")
	sock := gone.dial()
	before := owner.mustSend(conv, "before")["id"].(string)
	if got := msgID(t, sock.next("message.new")); got != before {
		t.Fatalf("got %s", got)
	}
	expect(t, owner.do("DELETE", "/v1/conversations/"+conv+"/members/"+gone.userID, nil), 204)
	sock.next("member.removed")
	after := owner.mustSend(conv, "after")["id"].(string)
	sock.conn.SetReadDeadline(time.Now().Add(time.Second))
	for {
		var f frame
		if err := sock.conn.ReadJSON(&f); err != nil {
			break // nothing more arrives
		}
		if f.Type == "message.new" {
			t.Fatalf("removed member received %s", f.Data)
		}
	}
	expect(t, gone.do("GET", "/v1/conversations/"+conv+"/messages", nil), 403, "permission_denied")
	expect(t, gone.send(conv, "x", "let me back"), 403, "permission_denied")
	events, _ := gone.syncSettled(cursor)
	for _, ev := range events {
		if data, _ := json.Marshal(ev["data"]); strings.Contains(string(data), after) {
			t.Fatalf("sync returned a message sent after removal: %v", ev)
		}
	}
}

// A group message reaches every connected device of every member exactly once,
// on both sides of the push/pull threshold; an offline device gets every
// message once through sync either way.
func TestGroupFanout(t *testing.T) {
	for _, mode := range []struct {
		name      string
		pushLimit int
	}{{"push", 100}, {"pull", 10}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, func(c *api.Config, _ *repo.Retention, w *ws.Config) { c.Groups.PushMaxMembers = mode.pushLimit })
			const n = 50
			users := make([]*client, n)
			var wg sync.WaitGroup
			for i := range users {
				wg.Add(1)
				go func() { defer wg.Done(); users[i] = e.newUser(fmt.Sprintf("f%d", i)) }()
			}
			wg.Wait()
			conv := users[0].group("fifty", users[1:]...)
			offline := e.login(users[7].handle)
			_, cursor := offline.syncAll("")
			var socks []*wsConn
			for _, u := range users {
				socks = append(socks, u.dial(), e.login(u.handle).dial())
			}
			var sent []string
			for i := 0; i < 5; i++ {
				sent = append(sent, users[i*3].mustSend(conv, fmt.Sprintf("to all %d", i))["id"].(string))
			}
			for k, s := range socks {
				got := map[string]int{}
				for len(got) < len(sent) {
					got[msgID(t, s.next("message.new"))]++
				}
				s.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				for {
					var f frame
					if s.conn.ReadJSON(&f) != nil {
						break
					}
					if f.Type == "message.new" {
						got[msgID(t, f)]++
					}
				}
				for _, id := range sent {
					if got[id] != 1 {
						t.Fatalf("device %d got message %s %d times", k, id, got[id])
					}
				}
			}
			events, _ := offline.syncSettled(cursor)
			var order []string
			for _, ev := range events {
				if ev["type"] == "message.new" {
					order = append(order, ev["data"].(map[string]any)["id"].(string))
				}
			}
			if strings.Join(order, ",") != strings.Join(sent, ",") {
				t.Fatalf("sync of an offline member:\n got %v\nwant %v", order, sent)
			}
		})
	}
}

// A push group that grows past the threshold switches to pull; sync spans both.
func TestGroupSwitchesToPull(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Groups.PushMaxMembers = 3 })
	a, b, c, d := e.newUser("wa"), e.newUser("wb"), e.newUser("wc"), e.newUser("wd")
	conv := a.group("grow", b, c)
	_, cursor := b.syncAll("")
	first := a.mustSend(conv, "pushed")["id"].(string)
	expect(t, a.do("PUT", "/v1/conversations/"+conv+"/members/"+d.userID, nil), 200)
	second := a.mustSend(conv, "pulled")["id"].(string)
	events, _ := b.syncSettled(cursor)
	var got []string
	for _, ev := range events {
		if ev["type"] == "message.new" {
			got = append(got, ev["data"].(map[string]any)["id"].(string))
		}
	}
	if strings.Join(got, ",") != first+","+second {
		t.Fatalf("messages across the switch: %v, want [%s %s]", got, first, second)
	}
}
