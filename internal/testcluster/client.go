package testcluster

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/snowflake"
)

// Client is one logged-in device talking REST to one node.
type Client struct {
	T        testing.TB
	Base     string
	Token    string
	UserID   string
	DeviceID string
	Handle   string
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// Call does one JSON request and decodes the answer into a map. It returns
// every answer as it is, a 503 included, for tests that assert one.
func Call(t testing.TB, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	st, out, _ := call(t, method, url, token, body)
	return st, out
}

// RetryBound is how long the setup helpers (Register, Login, Direct,
// SyncOnce) retry a 503 that carries Retry-After, waiting what it says each
// time: under load that is chatd's legitimate answer (a full hashing bound
// or send queue, a storage timeout), not the failure a test is about. A 503
// without Retry-After, or one still there past the bound, fails the test.
const RetryBound = 30 * time.Second

// callRetrying is Call retrying a 503 with Retry-After for up to bound.
func callRetrying(t testing.TB, bound time.Duration, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		st, out, wait := call(t, method, url, token, body)
		if st != http.StatusServiceUnavailable || wait <= 0 || time.Now().Add(wait).After(deadline) {
			return st, out
		}
		time.Sleep(wait)
	}
}

// call is Call, also returning a 503's Retry-After (0: none).
func call(t testing.TB, method, url, token string, body any) (int, map[string]any, time.Duration) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, map[string]any{"transport_error": err.Error()}, 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, url, raw)
		}
	}
	var wait time.Duration
	if resp.StatusCode == http.StatusServiceUnavailable {
		wait = retryAfter(resp.Header.Get("Retry-After"))
	}
	return resp.StatusCode, out, wait
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string) time.Duration {
	if secs, err := strconv.Atoi(h); err == nil && secs >= 0 {
		return max(time.Duration(secs)*time.Second, time.Millisecond)
	}
	if at, err := http.ParseTime(h); err == nil {
		return max(time.Until(at), time.Millisecond)
	}
	return 0
}

// Register creates a user through node and logs a device in.
func Register(t testing.TB, node *Node, prefix string) *Client {
	t.Helper()
	h := fmt.Sprintf("%s_%08x", prefix, rand.Uint32())
	st, body := callRetrying(t, RetryBound, "POST", node.URL+"/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse"})
	// 409 after a retry: an attempt answered 503 may still have registered
	// the handle (its random suffix is ours); the login tells.
	if st != 201 && st != 409 {
		t.Fatalf("register: %d %v", st, body)
	}
	return Login(t, node, h)
}

// Login adds a device for handle on node.
func Login(t testing.TB, node *Node, handle string) *Client {
	t.Helper()
	st, body := callRetrying(t, RetryBound, "POST", node.URL+"/v1/auth/login", "", map[string]any{"handle": handle, "password": "correct horse", "device_name": "e2e"})
	if st != 200 {
		t.Fatalf("login: %d %v", st, body)
	}
	return &Client{T: t, Base: node.URL, Token: body["token"].(string), Handle: handle,
		UserID: body["user"].(map[string]any)["id"].(string), DeviceID: body["device_id"].(string)}
}

// On returns the same device talking to another node.
func (c *Client) On(node *Node) *Client {
	d := *c
	d.Base = node.URL
	return &d
}

// Do calls path on the client's node.
func (c *Client) Do(method, path string, body any) (int, map[string]any) {
	c.T.Helper()
	return Call(c.T, method, c.Base+path, c.Token, body)
}

// Direct opens the direct conversation with other and returns its id.
func (c *Client) Direct(other *Client) string {
	c.T.Helper()
	st, body := callRetrying(c.T, RetryBound, "POST", c.Base+"/v1/conversations", c.Token, map[string]any{"kind": "direct", "member_ids": []string{other.UserID}})
	if st != 200 && st != 201 {
		c.T.Fatalf("direct: %d %v", st, body)
	}
	return body["conversation"].(map[string]any)["id"].(string)
}

// Send posts one message; it returns the status and the message id when acknowledged.
func (c *Client) Send(convID, clientMsgID, text string) (int, string) {
	c.T.Helper()
	st, body := c.Do("POST", "/v1/conversations/"+convID+"/messages", map[string]any{"client_msg_id": clientMsgID, "body": text})
	if st == 200 || st == 201 {
		return st, body["message"].(map[string]any)["id"].(string)
	}
	return st, ""
}

// SyncEvent is one event as sync returns it.
type SyncEvent struct {
	ID    string
	Type  string
	MsgID string
}

// SyncOnce follows has_more from cursor and returns the events and the new cursor.
func (c *Client) SyncOnce(cursor string) ([]SyncEvent, string) {
	c.T.Helper()
	var out []SyncEvent
	for i := 0; i < 10_000; i++ {
		q := "/v1/sync?limit=100"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		st, body := callRetrying(c.T, RetryBound, "GET", c.Base+q, c.Token, nil)
		if st != 200 {
			c.T.Fatalf("sync: %d %v", st, body)
		}
		for _, e := range body["events"].([]any) {
			ev := e.(map[string]any)
			se := SyncEvent{ID: ev["id"].(string), Type: ev["type"].(string)}
			if data, ok := ev["data"].(map[string]any); ok {
				se.MsgID, _ = data["id"].(string)
			}
			out = append(out, se)
		}
		cursor = body["cursor"].(string)
		if body["has_more"] != true {
			return out, cursor
		}
	}
	c.T.Fatal("sync never ended")
	return nil, ""
}

// SyncSettled is SyncOnce from cursor once sync's safe point has passed
// every event written before the call: it polls until the cursor sync
// returns stands at or past that moment (a cursor never passes the safe
// point), so the events hold everything written so far, whatever the
// nodes' --sync-lag.
func (c *Client) SyncSettled(cursor string) ([]SyncEvent, string) {
	c.T.Helper()
	written := snowflake.MinIDAt(time.Now())
	deadline := time.Now().Add(60 * time.Second)
	for {
		events, next := c.SyncOnce(cursor)
		if SyncPosition(next) >= written {
			return events, next
		}
		if time.Now().After(deadline) {
			c.T.Fatalf("sync's cursor never passed %d within 60 s", written)
		}
		time.Sleep(100 * time.Millisecond) // polling: the safe point trails now by the sync lag
	}
}

// SyncPosition is the id a sync cursor between rounds ("sync:<id>",
// base64) stands at; 0 for any other cursor (one inside a round).
func SyncPosition(cursor string) int64 {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0
	}
	kind, pos, ok := strings.Cut(string(raw), ":")
	if !ok || kind != "sync" || strings.Contains(pos, ":") {
		return 0
	}
	id, _ := strconv.ParseInt(pos, 10, 64)
	return id
}

// UUIDv7 makes a canonical UUIDv7 carrying at (RFC 9562): the client_msg_id
// form whose sends take no send_dedupe claim (docs/sync.md).
func UUIDv7(at time.Time) string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	ms := uint64(at.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
