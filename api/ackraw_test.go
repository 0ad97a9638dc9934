package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// readRaw reads the next frame answering ref, as bytes.
func (w *wsConn) readRaw(ref string) []byte {
	w.t.Helper()
	w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, raw, err := w.conn.ReadMessage()
		if err != nil {
			w.t.Fatalf("waiting for the reply to %q: %v", ref, err)
		}
		var f frame
		if err := json.Unmarshal(raw, &f); err != nil {
			w.t.Fatalf("a frame that is not JSON: %q: %v", raw, err)
		}
		if f.Ref == ref && f.Type != "message.new" {
			return raw
		}
	}
}

// An ack is assembled around the JSON the push carried (the body is not
// encoded again): whatever the client put in ref and body, the ack is JSON
// that carries the ref back and the message as history has it, for a first
// send, a retry of it (the stored message) and a retry after a recall.
func TestAckCarriesTheStoredMessage(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ara"), e.newUser("arb")
	conv := a.direct(b)
	w := a.dial()
	history := func(id string) map[string]any {
		t.Helper()
		r := a.do("GET", "/v1/conversations/"+conv+"/messages?limit=100", nil)
		for _, m := range r.body["messages"].([]any) {
			if m := m.(map[string]any); m["id"] == id {
				return m
			}
		}
		t.Fatalf("message %s not in history", id)
		return nil
	}
	send := func(ref, cid, bodyJSON string) map[string]any {
		t.Helper()
		refJSON, _ := json.Marshal(ref)
		raw := fmt.Sprintf(`{"type":"message.send","ref":%s,"data":{"conversation_id":%q,"client_msg_id":%q,"body":%s}}`, refJSON, conv, cid, bodyJSON)
		if err := w.conn.WriteMessage(websocket.TextMessage, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		ack := w.readRaw(ref)
		var f struct {
			Type string
			Ref  string
			Data struct{ Message map[string]any }
		}
		if err := json.Unmarshal(ack, &f); err != nil || f.Type != "ack" || f.Ref != ref {
			t.Fatalf("ref %q body %s: reply %s (%v)", ref, bodyJSON, ack, err)
		}
		if want := history(f.Data.Message["id"].(string)); !reflect.DeepEqual(f.Data.Message, want) {
			t.Fatalf("ref %q body %s: ack carries %v, history %v", ref, bodyJSON, f.Data.Message, want)
		}
		return f.Data.Message
	}
	bodies := []string{`"plain"`, `"quote \" backslash \\ slash \/"`, `"<script>&amp;</script>"`, `"a\u2028b\u2029"`,
		`"caf\u00e9 \ud83d\ude00"`, `"tab\tnew\nline"`, `"😀 ünï"`}
	refs := []string{"", "1", `"`, `\`, "</script>", "\u2028", "é", "a\tb"}
	for i, body := range bodies {
		ref := refs[i%len(refs)]
		cid := fmt.Sprintf("ack-%d-%d", i, time.Now().UnixNano())
		first := send(ref, cid, body)
		if again := send(ref+"r", cid, body); again["id"] != first["id"] {
			t.Fatalf("a retry acked message %v, the first %v", again["id"], first["id"])
		}
	}
	cid := fmt.Sprintf("ack-recall-%d", time.Now().UnixNano())
	m := send("x", cid, `"regret"`)
	expect(t, a.do("DELETE", "/v1/conversations/"+conv+"/messages/"+m["id"].(string), nil), 204)
	if again := send("y", cid, `"regret"`); again["recalled"] != true || again["body"] != "" {
		t.Fatalf("a retry after the recall acked %v", again)
	}
}
