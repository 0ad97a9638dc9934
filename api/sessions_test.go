package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// Sessions end their sockets: logout, revoke, password change and expiry
// close every socket of the session, and a ticket outlives none of them.

// closedWith waits for conn to end and returns its close code (0: not closed
// within timeout; -1: ended without a close frame).
func closedWith(conn *websocket.Conn, timeout time.Duration) int {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return 0
			}
			return -1
		}
	}
}

func (c *client) ticketDial(t *testing.T) (*websocket.Conn, error) {
	t.Helper()
	r := c.do("POST", "/v1/ws/tickets", nil)
	expect(t, r, 201)
	return c.dialTicket(r.body["ticket"].(string))
}

func (c *client) dialTicket(ticket string) (*websocket.Conn, error) {
	conn, _, err := websocket.DefaultDialer.Dial(c.e.wsURL("?ticket="+ticket), nil)
	if err == nil {
		c.t.Cleanup(func() { conn.Close() })
	}
	return conn, err
}

// Logout while the socket streams message.send: the socket is closed with
// 1008, and nothing the device sends after the logout answered is acknowledged.
func TestLogoutWhileSendingClosesTheSocket(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("lo"), e.newUser("lp")
	conv := a.direct(b)
	sock := a.dial()
	var mu sync.Mutex
	var acks []string
	code := make(chan int, 1)
	go func() { // reader: acks until the socket ends
		for {
			var f frame
			if err := sock.conn.ReadJSON(&f); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					code <- ce.Code
				} else {
					code <- -1
				}
				return
			}
			if f.Type == "ack" {
				mu.Lock()
				acks = append(acks, msgID(t, f))
				mu.Unlock()
			}
		}
	}()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() { // writer: a send every few milliseconds until told to stop
		defer close(sent)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			raw, _ := json.Marshal(map[string]any{"conversation_id": conv, "client_msg_id": fmt.Sprintf("lo-%d", i), "body": "hi"})
			if sock.conn.WriteJSON(frame{Type: "message.send", Ref: strconv.Itoa(i), Data: raw}) != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no acks before logout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, a.do("POST", "/v1/auth/logout", nil), 204)
	loggedOut := time.Now()
	select {
	case c := <-code:
		if c != 1008 {
			t.Fatalf("socket ended with %d after logout, want 1008", c)
		}
	case <-time.After(5 * time.Second):
		close(stop)
		t.Fatal("socket still open 5 s after logout")
	}
	close(stop)
	<-sent
	mu.Lock()
	defer mu.Unlock()
	for _, id := range acks {
		n, _ := strconv.ParseInt(id, 10, 64)
		// Same machine, same clock: an id made after the logout answered
		// would be a send accepted from a logged-out device.
		if snowflake.Time(n).After(loggedOut) {
			t.Fatalf("message %s (made %s) acknowledged after the logout answered (%s)", id, snowflake.Time(n), loggedOut)
		}
	}
	expect(t, a.do("GET", "/v1/me", nil), 401, "unauthenticated")
}

func TestTicketIssuedBeforeLogoutOpensNothing(t *testing.T) {
	e := newEnv(t)
	a := e.newUser("tl")
	r := a.do("POST", "/v1/ws/tickets", nil)
	expect(t, r, 201)
	expect(t, a.do("POST", "/v1/auth/logout", nil), 204)
	if conn, err := a.dialTicket(r.body["ticket"].(string)); err == nil {
		t.Fatalf("a ticket issued before logout opened a socket (closed with %d)", closedWith(conn, time.Second))
	}
}

// A ticket redeemed while its session logs out: whichever wins, no socket
// survives the logout.
func TestTicketRedeemedConcurrentlyWithLogout(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("tr")
	for i := 0; i < 15; i++ {
		dev := e.login(u.handle)
		r := dev.do("POST", "/v1/ws/tickets", nil)
		expect(t, r, 201)
		var wg sync.WaitGroup
		var conn *websocket.Conn
		var dialErr error
		wg.Add(2)
		go func() { defer wg.Done(); conn, dialErr = dev.dialTicket(r.body["ticket"].(string)) }()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%5) * time.Millisecond) // vary who wins
			if st := e.do("POST", "/v1/auth/logout", dev.token, nil).status; st != 204 {
				t.Errorf("logout: %d", st)
			}
		}()
		wg.Wait()
		if dialErr != nil {
			continue // refused: the logout came first
		}
		if c := closedWith(conn, 10*time.Second); c != 1008 {
			t.Fatalf("round %d: socket opened during logout ended with %d within 10 s, want 1008", i, c)
		}
	}
}

func TestSocketClosedAtTokenExpiry(t *testing.T) {
	// Long enough for the set-up below on a loaded machine, short enough to wait for.
	short := newEnv(t, func(_ *api.Config, r *repo.Retention, _ *ws.Config) { r.Session = 5 * time.Second })
	u := short.newUser("se")
	bearerSock := u.dial()
	ticketSock, err := u.ticketDial(t)
	if err != nil {
		t.Fatal(err)
	}
	for name, conn := range map[string]*websocket.Conn{"bearer": bearerSock.conn, "ticket": ticketSock} {
		if c := closedWith(conn, 12*time.Second); c != 1008 {
			t.Fatalf("%s socket at its token's expiry: ended with %d, want 1008 within a few seconds", name, c)
		}
	}
}

func TestRevokeAndPasswordChangeCloseSockets(t *testing.T) {
	e := newEnv(t)
	a := e.newUser("rp")
	other := e.login(a.handle)
	third := e.login(a.handle)
	otherSock, thirdSock, ownSock := other.dial(), third.dial(), a.dial()
	expect(t, a.do("DELETE", "/v1/me/devices/"+other.deviceID, nil), 204)
	if c := closedWith(otherSock.conn, 5*time.Second); c != 1008 {
		t.Fatalf("revoked device's socket ended with %d, want 1008", c)
	}
	expect(t, a.do("POST", "/v1/me/password", map[string]any{"current_password": "wrong horse", "new_password": "battery staple"}), 403, "permission_denied")
	expect(t, a.do("POST", "/v1/me/password", map[string]any{"current_password": "correct horse", "new_password": "short"}), 400, "invalid_argument")
	expect(t, a.do("POST", "/v1/me/password", map[string]any{"current_password": "correct horse", "new_password": "battery staple"}), 204)
	if c := closedWith(thirdSock.conn, 5*time.Second); c != 1008 {
		t.Fatalf("other session's socket after a password change ended with %d, want 1008", c)
	}
	expect(t, third.do("GET", "/v1/me", nil), 401, "unauthenticated")
	expect(t, a.do("GET", "/v1/me", nil), 200) // the changing session stays
	if c := closedWith(ownSock.conn, 300*time.Millisecond); c != 0 {
		t.Fatalf("the changing session's own socket ended with %d", c)
	}
	expect(t, e.do("POST", "/v1/auth/login", "", map[string]any{"handle": a.handle, "password": "correct horse"}), 401, "unauthenticated")
	expect(t, e.do("POST", "/v1/auth/login", "", map[string]any{"handle": a.handle, "password": "battery staple"}), 200)
}

func TestLogoutEverywhere(t *testing.T) {
	e := newEnv(t)
	a := e.newUser("la")
	devs := []*client{a, e.login(a.handle), e.login(a.handle)}
	var socks []*wsConn
	for _, d := range devs {
		socks = append(socks, d.dial())
	}
	expect(t, a.do("POST", "/v1/auth/logout-all", nil), 204)
	for i, d := range devs {
		expect(t, d.do("GET", "/v1/me", nil), 401, "unauthenticated")
		if c := closedWith(socks[i].conn, 5*time.Second); c != 1008 {
			t.Fatalf("device %d's socket ended with %d, want 1008", i, c)
		}
	}
	again := e.login(a.handle)
	r := again.do("GET", "/v1/me/devices", nil)
	expect(t, r, 200)
	if n := len(r.body["devices"].([]any)); n != 1 {
		t.Fatalf("%d devices after logging out everywhere and in once: %s", n, r.raw)
	}
}

// Each login used to add a device that logout never removed: the 101st
// login was refused for good.
func TestManyLoginsAndLogoutsNeverLockOut(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("ml")
	for i := 0; i < repo.MaxDevicesPerUser+5; i++ {
		d := e.login(u.handle)
		expect(t, d.do("POST", "/v1/auth/logout", nil), 204)
	}
	r := u.do("GET", "/v1/me/devices", nil)
	expect(t, r, 200)
	if n := len(r.body["devices"].([]any)); n != 1 {
		t.Fatalf("%d devices listed after logging the others out, want 1: %s", n, r.raw)
	}
}

func TestLoginAsAnExistingDevice(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ld"), e.newUser("le")
	sock := a.dial()
	login := func(handle string, body map[string]any) resp {
		body["handle"], body["password"] = handle, "correct horse"
		return e.do("POST", "/v1/auth/login", "", body)
	}
	r := login(a.handle, map[string]any{"device_id": a.deviceID, "device_name": "renamed"})
	expect(t, r, 200)
	if r.body["device_id"] != a.deviceID {
		t.Fatalf("logged in as device %v, asked for %s", r.body["device_id"], a.deviceID)
	}
	// One holder per device: the earlier token and its socket end.
	expect(t, a.do("GET", "/v1/me", nil), 401, "unauthenticated")
	if c := closedWith(sock.conn, 5*time.Second); c != 1008 {
		t.Fatalf("the device's earlier socket ended with %d, want 1008", c)
	}
	a.token = r.body["token"].(string)
	devs := a.do("GET", "/v1/me/devices", nil)
	expect(t, devs, 200)
	list := devs.body["devices"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "renamed" {
		t.Fatalf("devices after logging in again as the same device: %s", devs.raw)
	}
	// Someone else's device id, even with a valid password of one's own.
	expect(t, login(b.handle, map[string]any{"device_id": a.deviceID}), 404, "not_found")
	expect(t, login(a.handle, map[string]any{"device_id": "12345"}), 404, "not_found")
	expect(t, login(a.handle, map[string]any{"device_id": "x"}), 400, "invalid_argument")
	// A logged-out (retired) device cannot be taken back.
	expect(t, a.do("POST", "/v1/auth/logout", nil), 204)
	expect(t, login(a.handle, map[string]any{"device_id": a.deviceID}), 404, "not_found")
	// Wrong password: 401 whatever the device id.
	expect(t, e.do("POST", "/v1/auth/login", "", map[string]any{"handle": b.handle, "password": "nope nope", "device_id": b.deviceID}), 401, "unauthenticated")
}

// Logins racing at the device cap never leave more than the cap.
func TestConcurrentLoginsAtTheDeviceCap(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("cap")
	for i := 1; i < repo.MaxDevicesPerUser-3; i++ {
		e.login(u.handle)
	}
	const n = 12
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.do("POST", "/v1/auth/login", "", map[string]any{"handle": u.handle, "password": "correct horse"}).status
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		switch s {
		case 200:
			ok++
		case 409:
		default:
			t.Errorf("login at the cap: %d", s)
		}
	}
	r := u.do("GET", "/v1/me/devices", nil)
	expect(t, r, 200)
	if listed := len(r.body["devices"].([]any)); ok > 3 || listed > repo.MaxDevicesPerUser {
		t.Fatalf("%d of %d logins succeeded with 3 slots free; %d devices listed (cap %d)", ok, n, listed, repo.MaxDevicesPerUser)
	}
	// The slots left free by logins that backed off are still there.
	for i := ok; i < 3; i++ {
		e.login(u.handle)
	}
	expect(t, e.do("POST", "/v1/auth/login", "", map[string]any{"handle": u.handle, "password": "correct horse"}), 409, "conflict")
}

// A password change racing logins with the old password: no login made with
// the old password survives the change.
func TestPasswordChangeEndsRacingLogins(t *testing.T) {
	e := newEnv(t)
	a := e.newUser("pr")
	var wg sync.WaitGroup
	tokens := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("POST", "/v1/auth/login", "", map[string]any{"handle": a.handle, "password": "correct horse"})
			if r.status == 200 {
				tokens <- r.body["token"].(string)
			}
		}()
	}
	expect(t, a.do("POST", "/v1/me/password", map[string]any{"current_password": "correct horse", "new_password": "battery staple"}), 204)
	wg.Wait()
	close(tokens)
	for tok := range tokens {
		expect(t, e.do("GET", "/v1/me", tok, nil), 401, "unauthenticated")
	}
}

// Devices written before logout retired them (100 with no live token) must
// not lock their user out.
func TestLoginPrunesDeadDevicesAtTheCap(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("pd")
	uid, _ := strconv.ParseInt(u.userID, 10, 64)
	session, _ := keyspace(t)
	old := time.Now().Add(-time.Hour)
	for i := 0; i < repo.MaxDevicesPerUser; i++ {
		if err := session.Query(`INSERT INTO devices_by_user (user_id, device_id, name, created_at, last_seen) VALUES (?, ?, ?, ?, ?)`,
			uid, int64(1000+i), "legacy", old, old).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, e.do("POST", "/v1/auth/login", "", map[string]any{"handle": u.handle, "password": "correct horse"}), 200)
	r := u.do("GET", "/v1/me/devices", nil)
	expect(t, r, 200)
	if n := len(r.body["devices"].([]any)); n != 2 {
		t.Fatalf("%d devices after pruning, want the 2 live ones", n)
	}
}
