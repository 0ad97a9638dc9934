package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ringchat/ringchat/internal/testcluster"
)

// checkServer is an operator's before-send endpoint: it verifies each
// request's Standard Webhooks signature and timestamp (the library's own
// Verify) and answers by the body's first word.
type checkServer struct {
	*httptest.Server
	mu       sync.Mutex
	seen     []checkSeen
	unsigned int
}

type checkSeen struct {
	ID   string
	Type string
	Data map[string]any
}

const checkSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newCheckServer(t *testing.T) *checkServer {
	wh, err := standardwebhooks.NewWebhook(checkSecret)
	if err != nil {
		t.Fatal(err)
	}
	cs := &checkServer{}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var req struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		cs.mu.Lock()
		if wh.Verify(raw, r.Header) != nil || json.Unmarshal(raw, &req) != nil {
			cs.unsigned++
			cs.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		cs.seen = append(cs.seen, checkSeen{ID: r.Header.Get("webhook-id"), Type: req.Type, Data: req.Data})
		cs.mu.Unlock()
		body, _ := req.Data["body"].(string)
		switch strings.Fields(body + " -")[0] {
		case "forbidden":
			fmt.Fprint(w, `{"action":"reject","reason":"no forbidden words\n\u0000here"}`)
		case "rewrite":
			fmt.Fprint(w, `{"action":"replace","body":"[rewritten]"}`)
		case "huge": // a replacement over the body bound is the check's fault
			fmt.Fprintf(w, `{"action":"replace","body":%q}`, strings.Repeat("x", 5000))
		case "garbage":
			fmt.Fprint(w, `this is not a verdict`)
		case "shrug":
			fmt.Fprint(w, `{"action":"maybe"}`)
		case "down":
			w.WriteHeader(http.StatusBadGateway)
		case "slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusNoContent)
		case "explicit":
			fmt.Fprint(w, `{"action":"accept"}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *checkServer) requests() []checkSeen {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]checkSeen(nil), cs.seen...)
}

// historyBodies is the conversation's stored bodies by message id.
func historyBodies(t *testing.T, c *testcluster.Client, conv string) map[string]string {
	t.Helper()
	st, body := c.Do("GET", "/v1/conversations/"+conv+"/messages?limit=100", nil)
	if st != 200 {
		t.Fatalf("history: %d %v", st, body)
	}
	out := map[string]string{}
	for _, m := range body["messages"].([]any) {
		m := m.(map[string]any)
		out[m["id"].(string)], _ = m["body"].(string)
	}
	return out
}

// The before-send check: accepted, rejected with its reason (and nothing
// stored), replaced (stored and delivered replaced), and no verdict (slow,
// down, unreadable, an unknown action, a replacement out of bounds) let
// through on a fail-open node and refused with a retry hint on a
// fail-closed one. Edits are checked as sends are; sockets as REST.
func TestBeforeSendCheck(t *testing.T) {
	cs := newCheckServer(t)
	env := clusterEnv(t)
	env["RINGCHAT_BEFORE_SEND_URL"] = cs.URL + "/check"
	env["RINGCHAT_BEFORE_SEND_SECRET"] = checkSecret
	env["RINGCHAT_BEFORE_SEND_TIMEOUT"] = "500ms"
	open := testcluster.Start(t, env)
	closedEnv := map[string]string{"RINGCHAT_BEFORE_SEND_FAIL": "closed"}
	for k, v := range env {
		if _, set := closedEnv[k]; !set {
			closedEnv[k] = v
		}
	}
	closed := testcluster.Start(t, closedEnv)

	a := testcluster.Register(t, open, "bsa")
	b := testcluster.Register(t, open, "bsb")
	conv := a.Direct(b)
	bSock := b.Dial()

	send := func(c *testcluster.Client, cmid, text string) (int, map[string]any) {
		t.Helper()
		return c.Do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{"client_msg_id": cmid, "body": text})
	}
	bodyOf := func(res map[string]any) string {
		m, _ := res["message"].(map[string]any)
		s, _ := m["body"].(string)
		return s
	}

	st, res := send(a, "ok-1", "hello there")
	if st != 201 || bodyOf(res) != "hello there" {
		t.Fatalf("accepted send: %d %v", st, res)
	}
	helloID := res["message"].(map[string]any)["id"].(string)
	if st, res := send(a, "ok-2", "explicit accept"); st != 201 || bodyOf(res) != "explicit accept" {
		t.Fatalf("explicitly accepted send: %d %v", st, res)
	}

	st, res = send(a, "no-1", "forbidden words")
	if st != 403 || res["error"].(map[string]any)["code"] != "permission_denied" {
		t.Fatalf("rejected send: %d %v", st, res)
	}
	if msg := res["error"].(map[string]any)["message"].(string); !strings.HasSuffix(msg, ": no forbidden words here") {
		t.Errorf("rejection message %q: want the check's reason, on one printable line", msg)
	}

	st, res = send(a, "rw-1", "rewrite me please")
	if st != 201 || bodyOf(res) != "[rewritten]" {
		t.Fatalf("replaced send: %d %v", st, res)
	}
	rewrittenID := res["message"].(map[string]any)["id"].(string)
	bSock.WaitFor(10*time.Second, "the replaced message", func(fs []testcluster.Frame) bool {
		for _, f := range fs {
			if f.Type == "message.new" && strings.Contains(string(f.Data), rewrittenID) {
				if strings.Contains(string(f.Data), "rewrite me") {
					t.Errorf("the receiver got the body as sent: %s", f.Data)
				}
				return strings.Contains(string(f.Data), `"[rewritten]"`)
			}
		}
		return false
	})

	// No verdict: through as sent on the fail-open node, a retryable 503 on the fail-closed one.
	for i, text := range []string{"slow answer", "down for now", "garbage out", "shrug maybe", "huge replacement"} {
		began := time.Now()
		st, res := send(a, fmt.Sprintf("open-%d", i), text)
		if st != 201 || bodyOf(res) != text {
			t.Errorf("fail open, %q: %d %v, want 201 with the body as sent", text, st, res)
		}
		if took := time.Since(began); took > 3*time.Second {
			t.Errorf("fail open, %q took %s: the 500 ms check timeout did not bound it", text, took)
		}
		st, res = send(a.On(closed), fmt.Sprintf("closed-%d", i), text)
		if st != 503 || res["error"].(map[string]any)["code"] != "unavailable" {
			t.Errorf("fail closed, %q: %d %v, want 503 unavailable", text, st, res)
		}
	}

	// A socket's send is checked as REST's is.
	if err := bSock.Send("message.send", "ws-1", map[string]any{"conversation_id": conv, "client_msg_id": "ws-no", "body": "forbidden over ws"}); err != nil {
		t.Fatal(err)
	}
	if f := bSock.Reply(10*time.Second, "ws-1"); f.Type != "error" || !strings.Contains(string(f.Data), "permission_denied") {
		t.Errorf("a rejected socket send answered %+v", f)
	}

	// Edits: rejected leaves the body, replaced stores the replacement.
	if st, res := a.Do("PATCH", "/v1/conversations/"+conv+"/messages/"+helloID, map[string]any{"body": "forbidden now"}); st != 403 {
		t.Errorf("rejected edit: %d %v", st, res)
	}
	if st, res := a.Do("PATCH", "/v1/conversations/"+conv+"/messages/"+helloID, map[string]any{"body": "rewrite this edit"}); st != 200 || bodyOf(res) != "[rewritten]" {
		t.Errorf("replaced edit: %d %v", st, res)
	}

	stored := historyBodies(t, a, conv)
	if stored[helloID] != "[rewritten]" || stored[rewrittenID] != "[rewritten]" {
		t.Errorf("history: %v", stored)
	}
	for _, body := range stored {
		if strings.HasPrefix(body, "forbidden") || strings.HasPrefix(body, "rewrite") {
			t.Errorf("history holds %q, which the check rejected or replaced", body)
		}
	}
	if len(stored) != 3+5 { // hello (edited), explicit, rewritten, and the five let through open
		t.Errorf("history has %d messages, want 8: %v", len(stored), stored)
	}

	reqs := cs.requests()
	if cs.unsigned != 0 {
		t.Errorf("%d check requests failed the signature check", cs.unsigned)
	}
	var sends, edits int
	for _, r := range reqs {
		switch r.Type {
		case "message.send":
			sends++
			if r.Data["conversation_id"] != conv || r.Data["sender_id"] != a.UserID && r.Data["sender_id"] != b.UserID || r.Data["client_msg_id"] == "" {
				t.Errorf("send check without its fields: %+v", r)
			}
		case "message.edit":
			edits++
			if r.Data["message_id"] != helloID {
				t.Errorf("edit check names message %v, want %s", r.Data["message_id"], helloID)
			}
		}
	}
	if sends != 4+10+1 || edits != 2 {
		t.Errorf("the check saw %d sends and %d edits, want 15 and 2", sends, edits)
	}

	m := scrape(t, open)
	for series, want := range map[string]float64{"ringchat_before_send_rejected_total": 3, "ringchat_before_send_replaced_total": 2,
		"ringchat_before_send_failed_total": 5, "ringchat_before_send_accepted_total": 2} {
		if got := mustSample(t, m, series); got != want {
			t.Errorf("%s = %v on the fail-open node, want %v", series, got, want)
		}
	}
}
