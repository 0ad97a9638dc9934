package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// A logout's close order to another node is best effort. These end a
// device's session in the store with no close order at all (the order was
// lost): the socket must find out by itself.

// endWithoutCloseOrder retires the client's device as a logout does, but
// tells no hub.
func (c *client) endWithoutCloseOrder() {
	c.t.Helper()
	uid, _ := strconv.ParseInt(c.userID, 10, 64)
	did, _ := strconv.ParseInt(c.deviceID, 10, 64)
	if err := c.e.store.RetireDevice(c.t.Context(), uid, did); err != nil {
		c.t.Fatal(err)
	}
}

// dialSettled dials a socket, sees it answer, and waits until it is settled.
func (c *client) dialSettled() *wsConn {
	c.t.Helper()
	sock := c.dial()
	sock.write("ping", "p1", nil)
	sock.next("pong")
	c.settled()
	return sock
}

// settled waits until the socket's set-up (OnConnect, then its one session
// check) is over, so only a later check can notice what the test does.
func (c *client) settled() {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.presenceOf(c).Online {
		if time.Now().After(deadline) {
			c.t.Fatal("socket never came online")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The set-up check follows OnConnect.
	uid, did := mustID(c.t, c.userID), mustID(c.t, c.deviceID)
	for !c.e.hub.SessionChecked(uid, did) {
		if time.Now().After(deadline) {
			c.t.Fatal("the socket's set-up session check never finished")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSocketClosedWithinRecheckIntervalWhenCloseOrderLost(t *testing.T) {
	e := newEnv(t, func(_ *api.Config, _ *repo.Retention, w *ws.Config) { w.SessionCheckInterval = time.Second })
	a := e.newUser("rc")
	sock := a.dialSettled()
	a.endWithoutCloseOrder()
	if c := closedWith(sock.conn, 10*time.Second); c != 1008 {
		t.Fatalf("socket of an ended session, interval 1 s: ended with %d within 10 s, want 1008", c)
	}
}

// With the default (long) interval, the socket's next message.send after
// its last check went stale is refused and the socket closed with 1008;
// the refused message reaches no one. The node runs no feed of ended
// sessions here: it would close the socket at a moment of its own, maybe
// while a send is under way, which completes by design (chat.App.Send),
// and only the socket's own check is under test.
func TestMessageSendRefusedOnceSessionEndedWithoutCloseOrder(t *testing.T) {
	e := newEnvWithoutFeed(t)
	a, b := e.newUser("rs"), e.newUser("rt")
	conv := a.direct(b)
	sock := a.dial()
	send := func(i int) {
		raw, _ := json.Marshal(map[string]any{"conversation_id": conv, "client_msg_id": fmt.Sprintf("rs-%d", i), "body": fmt.Sprintf("after-%d", i)})
		if err := sock.conn.WriteJSON(frame{Type: "message.send", Ref: strconv.Itoa(i), Data: raw}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	send(0)
	if f := sock.next("ack"); f.Ref != "0" {
		t.Fatalf("first send: %+v", f)
	}
	a.settled()
	a.endWithoutCloseOrder()
	refused := -1
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; refused < 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("message.send still acknowledged 20 s after the session ended")
		}
		send(i)
		_ = sock.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var f frame
		err := sock.conn.ReadJSON(&f)
		for err == nil && f.Type != "ack" && f.Type != "error" { // its own message.new
			f = frame{}
			err = sock.conn.ReadJSON(&f)
		}
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce):
			if ce.Code != 1008 {
				t.Fatalf("socket ended with %d, want 1008", ce.Code)
			}
			refused = i
		case err != nil:
			t.Fatalf("send %d: %v", i, err)
		case f.Type == "error" && frameCode(f) == "unauthenticated":
			refused = i
			if c := closedWith(sock.conn, 10*time.Second); c != 1008 {
				t.Fatalf("after the refusal the socket ended with %d, want 1008", c)
			}
		default:
			// An ack, or a refusal for another reason (unavailable: too slow
			// on a loaded machine, its rows perhaps written), which is not
			// the one this waits for. Pace the sends while the last check is
			// fresh: the scenario.
			time.Sleep(500 * time.Millisecond)
		}
	}
	r := b.do("GET", "/v1/conversations/"+conv+"/messages", nil)
	expect(t, r, 200)
	want := fmt.Sprintf("after-%d", refused)
	for _, m := range r.body["messages"].([]any) {
		if m.(map[string]any)["body"] == want {
			t.Fatalf("the refused message.send %d was delivered", refused)
		}
	}
}

// frameCode is an error frame's code.
func frameCode(f frame) string {
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(f.Data, &e)
	return e.Code
}
