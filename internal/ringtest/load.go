package ringtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
)

// Load is senders sending and devices receiving throughout a scenario. Each
// sender sends its messages one after another; a send the service refuses in
// a way a client retries (503 with Retry-After, 504, or the connection
// failing) is retried with the same client_msg_id until it is acknowledged,
// so a half-written first attempt must come back as the same message, never
// as a second one. Anything else is an error the test reports.
type Load struct {
	t      testing.TB
	pairs  []*pair
	stop   chan struct{}
	halted sync.Once
	wg     sync.WaitGroup

	mu        sync.Mutex
	acks      []time.Time // when each acknowledgement arrived
	refused   int         // answers a client retries (503, 504, transport)
	slowest   time.Duration
	refusals  []refusal
	lastWhy   string   // the latest refusal's answer, for a failing test's log
	noRetryAf int      // 503s without Retry-After
	bad       []string // answers a client cannot retry
}

type refusal struct {
	at   time.Time
	took time.Duration
}

type pair struct {
	sender   *testcluster.Client
	receiver *testcluster.Client
	socket   *testcluster.Socket
	conv     string
	cursor   string
	acked    map[string]string // client_msg_id -> message id
}

// StartLoad registers n sender/receiver pairs over the chatd nodes (sender on
// one node, the receiver's socket on the next) and starts sending.
func StartLoad(t testing.TB, nodes []*testcluster.Node, n int, every time.Duration) *Load {
	t.Helper()
	l := &Load{t: t, stop: make(chan struct{})}
	for i := range n {
		p := &pair{sender: register(t, nodes[i%len(nodes)], fmt.Sprintf("rgs%d", i)),
			receiver: register(t, nodes[(i+1)%len(nodes)], fmt.Sprintf("rgr%d", i)),
			acked:    map[string]string{}}
		body := retry(t, p.sender.Base, "POST", "/v1/conversations", p.sender.Token,
			map[string]any{"kind": "direct", "member_ids": []string{p.receiver.UserID}})
		p.conv = body["conversation"].(map[string]any)["id"].(string)
		p.cursor = retry(t, p.receiver.Base, "GET", "/v1/sync?limit=1", p.receiver.Token, nil)["cursor"].(string)
		p.socket = p.receiver.Dial()
		l.pairs = append(l.pairs, p)
	}
	for k, p := range l.pairs {
		l.wg.Add(1)
		go l.send(k, p, every)
	}
	return l
}

func (l *Load) send(k int, p *pair, every time.Duration) {
	defer l.wg.Done()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		case <-time.After(every):
		}
		cmid := fmt.Sprintf("ring-%d-%d", k, i)
		// Retried until acknowledged, past the stop too: every message a
		// sender began ends acknowledged once the ring is whole again.
		for deadline := time.Now().Add(5 * time.Minute); ; {
			id, wait, ok := l.attempt(p, cmid)
			if ok {
				l.mu.Lock()
				p.acked[cmid] = id
				l.acks = append(l.acks, time.Now())
				l.mu.Unlock()
				break
			}
			if wait < 0 || time.Now().After(deadline) {
				break // not retryable (recorded), or the ring never came back
			}
			time.Sleep(wait)
		}
	}
}

// attempt sends once; wait < 0 means the answer is not one to retry.
func (l *Load) attempt(p *pair, cmid string) (id string, wait time.Duration, ok bool) {
	body, _ := json.Marshal(map[string]any{"client_msg_id": cmid, "body": "through a ring " + cmid})
	req, _ := http.NewRequest("POST", p.sender.Base+"/v1/conversations/"+p.conv+"/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.sender.Token)
	start := time.Now()
	res, err := client.Do(req)
	took := time.Since(start)
	if err != nil {
		l.refuse(took)
		return "", 200 * time.Millisecond, false
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	switch res.StatusCode {
	case 200, 201:
		var out struct {
			Message struct{ ID string } `json:"message"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || out.Message.ID == "" {
			l.fail(fmt.Sprintf("%s: %d with a bad body %q", cmid, res.StatusCode, raw))
			return "", -1, false
		}
		return out.Message.ID, 0, true
	case 503, 504:
		l.refuse(took)
		l.mu.Lock()
		l.lastWhy = fmt.Sprintf("%d %s", res.StatusCode, raw)
		l.mu.Unlock()
		ra := res.Header.Get("Retry-After")
		secs, err := strconv.Atoi(ra)
		if res.StatusCode == 503 && (err != nil || secs < 0) {
			l.mu.Lock()
			l.noRetryAf++
			l.mu.Unlock()
		}
		// Retry-After is whole seconds; a test client comes back sooner, which
		// only makes the scenario harder for the service.
		return "", 200 * time.Millisecond, false
	default:
		l.fail(fmt.Sprintf("%s: %d %s", cmid, res.StatusCode, raw))
		return "", -1, false
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

// retry calls path until it answers 2xx, retrying what a client retries
// (503, 504, a broken connection: a ring on two busy cores is slow at RF 3).
func retry(t testing.TB, base, method, path, token string, body any) map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, out := testcluster.Call(t, method, base+path, token, body)
		if st >= 200 && st < 300 {
			return out
		}
		if (st != 0 && st != 503 && st != 504) || time.Now().After(deadline) {
			t.Fatalf("%s %s: %d %v", method, path, st, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// register is testcluster.Register with retry.
func register(t testing.TB, node *testcluster.Node, prefix string) *testcluster.Client {
	t.Helper()
	h := fmt.Sprintf("%s_%08x", prefix, time.Now().UnixNano()&0xffffffff)
	retry(t, node.URL, "POST", "/v1/auth/register", "", map[string]any{"handle": h, "password": "correct horse"})
	body := retry(t, node.URL, "POST", "/v1/auth/login", "", map[string]any{"handle": h, "password": "correct horse", "device_name": "ring"})
	return &testcluster.Client{T: t, Base: node.URL, Token: body["token"].(string), Handle: h,
		UserID: body["user"].(map[string]any)["id"].(string), DeviceID: body["device_id"].(string)}
}

func (l *Load) refuse(took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused++
	l.slowest = max(l.slowest, took)
	l.refusals = append(l.refusals, refusal{at: time.Now(), took: took})
}

// SlowestSince is the longest a refused send took among those refused after t.
func (l *Load) SlowestSince(t time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d time.Duration
	for _, r := range l.refusals {
		if r.at.After(t) {
			d = max(d, r.took)
		}
	}
	return d
}

func (l *Load) fail(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bad = append(l.bad, what)
}

// Mark is a point in a scenario to count from.
type Mark struct {
	At      time.Time
	acks    int
	refused int
}

// Mark notes the counts now.
func (l *Load) Mark() Mark {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Mark{At: time.Now(), acks: len(l.acks), refused: l.refused}
}

// Since reports acknowledgements and refusals after m.
func (l *Load) Since(m Mark) (acked, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks) - m.acks, l.refused - m.refused
}

// FirstAckAfter is how long after t the first acknowledgement came (false: none yet).
func (l *Load) FirstAckAfter(t time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.acks {
		if a.After(t) {
			return a.Sub(t), true
		}
	}
	return 0, false
}

// LongestGap is the longest stretch between acknowledgements from..to.
func (l *Load) LongestGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, gap := from, time.Duration(0)
	for _, a := range l.acks {
		if a.Before(from) || a.After(to) {
			continue
		}
		gap = max(gap, a.Sub(prev))
		prev = a
	}
	return max(gap, to.Sub(prev))
}

// WaitAcks polls until n acknowledgements arrived after m, or fails.
func (l *Load) WaitAcks(m Mark, n int, timeout time.Duration, what string) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if acked, _ := l.Since(m); acked >= n {
			return
		}
		if time.Now().After(deadline) {
			acked, refused := l.Since(m)
			l.mu.Lock()
			why := l.lastWhy
			l.mu.Unlock()
			l.t.Fatalf("%s: %d sends acknowledged (%d refused, the latest: %s) in %s, want %d", what, acked, refused, why, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Result is what a scenario reports.
type Result struct {
	Acked, Refused, Lost, Duplicated, Live int
	SlowestRefusal                         time.Duration
}

// Stop ends the sending (each sender finishes the message it is on) and
// checks every acknowledged message against its receiver's sync, read
// through chatd at the ring's consistency, and its live socket.
func (l *Load) Stop(t testing.TB) Result {
	t.Helper()
	l.Halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Result{Refused: l.refused, SlowestRefusal: l.slowest}
	for _, b := range l.bad {
		t.Errorf("a client-visible error no client retries: %s", b)
	}
	if l.noRetryAf > 0 {
		t.Errorf("%d answers 503 without a Retry-After", l.noRetryAf)
	}
	for _, p := range l.pairs {
		// Sync trails now by --sync-lag (5 s): the newest messages show once it passed.
		inSync := syncMessages(t, p.receiver, p.cursor)
		for deadline := time.Now().Add(30 * time.Second); !hasAll(inSync, p.acked) && time.Now().Before(deadline); {
			time.Sleep(time.Second)
			inSync = syncMessages(t, p.receiver, p.cursor)
		}
		live := p.socket.MessageIDs()
		want := map[string]bool{}
		for cmid, id := range p.acked {
			want[id] = true
			r.Acked++
			if !inSync[id] {
				r.Lost++
				t.Errorf("acknowledged message %s (%s) is not in its receiver's sync; %s", id, cmid, inHistory(t, p, id))
			}
			if live[id] > 0 {
				r.Live++
			}
		}
		for id := range inSync {
			if !want[id] {
				r.Duplicated++
				t.Errorf("message %s is in the receiver's sync but was never acknowledged: a half-written send stored twice", id)
			}
		}
	}
	return r
}

// inHistory says whether a message missing from sync is in the
// conversation's history: which of its rows a failure lost.
func inHistory(t testing.TB, p *pair, id string) string {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return "bad id"
	}
	st, out := testcluster.Call(t, "GET", fmt.Sprintf("%s/v1/conversations/%s/messages?before=%d&limit=1", p.receiver.Base, p.conv, n+1), p.receiver.Token, nil)
	if st != 200 {
		return fmt.Sprintf("history read: %d %v", st, out)
	}
	if msgs, _ := out["messages"].([]any); len(msgs) == 1 {
		if m, _ := msgs[0].(map[string]any); m["id"] == id {
			return "its history has it (the inbox row is what is missing)"
		}
	}
	return "its history lacks it too (the message row is missing)"
}

// Halt ends the sending: each sender finishes the message it is on.
func (l *Load) Halt() {
	l.halted.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// MissingFromSync halts the load and polls, up to timeout, until every
// acknowledged message is in its receiver's sync; it returns how many are
// not, without failing (Stop is the check).
func (l *Load) MissingFromSync(t testing.TB, timeout time.Duration) int {
	t.Helper()
	l.Halt()
	for deadline := time.Now().Add(timeout); ; time.Sleep(time.Second) {
		missing := 0
		for _, p := range l.pairs {
			inSync := syncMessages(t, p.receiver, p.cursor)
			for _, id := range p.acked {
				if !inSync[id] {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
	}
}

func hasAll(have map[string]bool, acked map[string]string) bool {
	for _, id := range acked {
		if !have[id] {
			return false
		}
	}
	return true
}

// syncMessages follows the receiver's sync from cursor to its end and returns
// the message ids of its message.new events.
func syncMessages(t testing.TB, c *testcluster.Client, cursor string) map[string]bool {
	ids, _ := syncFrom(t, c, cursor)
	return ids
}

// syncFrom is syncMessages that also returns the cursor the last page handed
// back, where the device would continue from.
func syncFrom(t testing.TB, c *testcluster.Client, cursor string) (map[string]bool, string) {
	out := map[string]bool{}
	for range 10_000 {
		body := retry(t, c.Base, "GET", "/v1/sync?limit=100&cursor="+url.QueryEscape(cursor), c.Token, nil)
		for _, e := range body["events"].([]any) {
			ev := e.(map[string]any)
			if data, ok := ev["data"].(map[string]any); ok && ev["type"] == "message.new" {
				out[data["id"].(string)] = true
			}
		}
		cursor = body["cursor"].(string)
		if body["has_more"] != true {
			return out, cursor
		}
	}
	t.Fatal("sync never ended")
	return nil, ""
}

// AckedIDs is every acknowledged message id by conversation.
func (l *Load) AckedIDs() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for _, p := range l.pairs {
		for _, id := range p.acked {
			out[p.conv] = append(out[p.conv], id)
		}
	}
	return out
}
