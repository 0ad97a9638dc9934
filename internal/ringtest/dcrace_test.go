package ringtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/internal/testcluster"
)

// Races through both DCs at once: the claims TestRingTwoDCs checks are unique
// across DCs (docs/cluster.md's table), and what each serial level costs.

// both runs f(0) and f(1) in two goroutines released together and waits.
func both(f func(side int)) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for side := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			f(side)
		}()
	}
	close(gate)
	wg.Wait()
}

// latencies summarises durations as "median m, slowest s (n)".
type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "none"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return fmt.Sprintf("median %s, slowest %s (%d)", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), len(s))
}

// raceRegister registers one fresh handle through a (dc1) and b (dc2) at once,
// n times, with a different password on each side. Exactly one side must get
// 201 and the other 409 conflict, and the account that exists, logged in
// through both DCs, must be the winner's. Answers a client retries (503, 504,
// a broken connection) are retried as a client would.
func raceRegister(t *testing.T, nodes [2]*testcluster.Node, n int) string {
	t.Helper()
	var took [2]latencies
	wins := [2]int{}
	for i := range n {
		h := fmt.Sprintf("dcrace_%d_%08x", i, rand.Uint32())
		var st [2]int
		var body [2]map[string]any
		var dur [2]time.Duration
		both(func(side int) {
			start := time.Now()
			// Past --handle-claim-grace (1 min): a claim whose answer timed out
			// is retried with 503 until then, and taken over after.
			for deadline := start.Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				st[side], body[side] = testcluster.Call(t, "POST", nodes[side].URL+"/v1/auth/register", "",
					map[string]any{"handle": h, "password": fmt.Sprintf("password of dc%d", side+1)})
				if (st[side] != 0 && st[side] != 503 && st[side] != 504) || time.Now().After(deadline) {
					break
				}
			}
			dur[side] = time.Since(start)
		})
		took[0], took[1] = append(took[0], dur[0]), append(took[1], dur[1])
		winner := -1
		switch {
		case st[0] == 201 && st[1] == 409:
			winner = 0
		case st[0] == 409 && st[1] == 201:
			winner = 1
		default:
			t.Errorf("handle %s registered through both DCs at once: dc1 answered %d %v, dc2 %d %v; want one 201 and one 409",
				h, st[0], body[0], st[1], body[1])
			continue
		}
		wins[winner]++
		if e, _ := body[1-winner]["error"].(map[string]any); e["code"] != "conflict" || !strings.Contains(fmt.Sprint(e["message"]), "taken") {
			t.Errorf("the losing registration of %s answered %v: want a conflict saying the handle is taken", h, body[1-winner])
		}
		want := body[winner]["user"].(map[string]any)["id"]
		for side, node := range nodes {
			if id := loginID(t, node, h, fmt.Sprintf("password of dc%d", winner+1)); id != want {
				t.Errorf("handle %s logs in through dc%d as user %v, but the winning registration made %v", h, side+1, id, want)
			}
			if st, _ := testcluster.Call(t, "POST", node.URL+"/v1/auth/login", "", map[string]any{"handle": h,
				"password": fmt.Sprintf("password of dc%d", 2-winner), "device_name": "race"}); st != 401 {
				t.Errorf("the losing password of %s logs in through dc%d: %d, want 401", h, side+1, st)
			}
		}
	}
	return fmt.Sprintf("%d handles registered through both DCs at once: %d won in dc1, %d in dc2, the other a 409 each time; registration through dc1 %s, through dc2 %s",
		n, wins[0], wins[1], took[0], took[1])
}

// loginID logs handle in through node and returns its user id; it polls while
// the account is not yet replicated to node's DC (401), up to 30 s.
func loginID(t *testing.T, node *testcluster.Node, handle, password string) any {
	t.Helper()
	return login(t, node, handle, password)["user"].(map[string]any)["id"]
}

// login is loginID's answer whole (the device's token too).
func login(t *testing.T, node *testcluster.Node, handle, password string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, body := testcluster.Call(t, "POST", node.URL+"/v1/auth/login", "", map[string]any{"handle": handle, "password": password, "device_name": "race"})
		if st == 200 {
			return body
		}
		if (st != 401 && st != 503 && st != 0) || time.Now().After(deadline) {
			t.Fatalf("login %s through %s: %d %v", handle, node.URL, st, body)
		}
	}
}

// raceDirect opens the one direct conversation of a fresh pair from both
// ends at once, one user through each DC, n times: both must get the same
// conversation, at most one of them 201 (created).
func raceDirect(t *testing.T, nodes [2]*testcluster.Node, n int) string {
	t.Helper()
	var took latencies
	neither := 0
	for i := range n {
		users := [2]*testcluster.Client{register(t, nodes[0], fmt.Sprintf("dm1_%d", i)), register(t, nodes[1], fmt.Sprintf("dm2_%d", i))}
		for side := range 2 { // each user visible in the other's DC first: replication, not the race
			other := users[1-side]
			retryWhile404(t, nodes[side].URL, "/v1/users/"+other.UserID, users[side].Token)
		}
		var st [2]int
		var body [2]map[string]any
		var dur [2]time.Duration
		both(func(side int) {
			start := time.Now()
			for deadline := start.Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
				st[side], body[side] = testcluster.Call(t, "POST", nodes[side].URL+"/v1/conversations", users[side].Token,
					map[string]any{"kind": "direct", "member_ids": []string{users[1-side].UserID}})
				if (st[side] != 0 && st[side] != 503 && st[side] != 504) || time.Now().After(deadline) {
					break
				}
			}
			dur[side] = time.Since(start)
		})
		took = append(took, dur[0], dur[1])
		// One 201 (created) at most: a creator whose claim was applied but
		// answered late (503, retried) finds it existing, so two 200s happen.
		if st[0]/100 != 2 || st[1]/100 != 2 || st[0] == 201 && st[1] == 201 {
			t.Errorf("the pair's DM opened through both DCs at once: %d %v and %d %v; want one 201 and one 200 (or two 200s)", st[0], body[0], st[1], body[1])
			continue
		}
		if st[0] == 200 && st[1] == 200 {
			neither++
		}
		ids := [2]any{body[0]["conversation"].(map[string]any)["id"], body[1]["conversation"].(map[string]any)["id"]}
		if ids[0] != ids[1] {
			t.Errorf("one pair, two direct conversations: %v through dc1, %v through dc2", ids[0], ids[1])
		}
	}
	return fmt.Sprintf("%d pairs opened their DM from both DCs at once: one conversation each time (both answered 200 %d times); %s", n, neither, took)
}

func retryWhile404(t *testing.T, base, path, token string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, body := testcluster.Call(t, "GET", base+path, token, nil)
		if st == 200 {
			return
		}
		if (st != 404 && st != 401 && st != 503 && st != 0) || time.Now().After(deadline) {
			t.Fatalf("GET %s%s: %d %v", base, path, st, body)
		}
	}
}

// raceLWT is the claim itself, without chatd: one INSERT ... IF NOT EXISTS on
// users_by_handle from a dc1 client and a dc2 client at once, n times at each
// serial level, and n uncontended claims per DC and level for their latency.
// At LOCAL_SERIAL each DC's Paxos round runs among its own replicas, so both
// may win; at SERIAL a quorum of all four decides.
func raceLWT(t *testing.T, ks string, n int) string {
	t.Helper()
	var sess [2]*gocql.Session
	for side, spec := range [][2]string{{Nodes[0], "dc1"}, {DC2Node, "dc2"}} {
		s, err := SessionInDC([]string{spec[0] + ":9042"}, spec[1], ks, gocql.LocalQuorum)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sess[side] = s
	}
	claim := func(side int, level gocql.SerialConsistency, handle string) (bool, time.Duration, error) {
		start := time.Now()
		applied, err := sess[side].Query(`INSERT INTO users_by_handle (handle, user_id) VALUES (?, ?) IF NOT EXISTS`, handle, int64(side+1)).
			SerialConsistency(level).MapScanCAS(map[string]any{})
		return applied, time.Since(start), err
	}
	var out []string
	for _, level := range []gocql.SerialConsistency{gocql.LocalSerial, gocql.Serial} {
		twoWinners, failed := 0, 0
		var solo [2]latencies
		for i := range n {
			h := fmt.Sprintf("lwtrace_%s_%d_%08x", level, i, rand.Uint32())
			var won [2]bool
			var errs [2]error
			both(func(side int) { won[side], _, errs[side] = claim(side, level, h) })
			if won[0] && won[1] {
				twoWinners++
			}
			for _, err := range errs {
				if err != nil {
					failed++ // a timeout: the outcome is unknown to this client
				}
			}
			for side := range 2 {
				if _, d, err := claim(side, level, fmt.Sprintf("lwtsolo_%s_%d_%d_%08x", level, side, i, rand.Uint32())); err == nil {
					solo[side] = append(solo[side], d)
				}
			}
		}
		out = append(out, fmt.Sprintf("%s: %d of %d races won by both DCs (%d attempts failed), one claim alone from dc1 %s, from dc2 %s",
			level, twoWinners, n, failed, solo[0], solo[1]))
		if level == gocql.Serial && twoWinners > 0 {
			t.Errorf("at SERIAL %d of %d claims raced from two DCs had two winners", twoWinners, n)
		}
	}
	return strings.Join(out, "; ")
}

// registerEach registers n fresh handles through each node one after another
// (a SERIAL claim each) and reports the answers and how long they took.
func registerEach(t *testing.T, nodes [2]*testcluster.Node, n int) (string, [2]int) {
	t.Helper()
	var ok [2]int
	var parts []string
	for side, node := range nodes {
		var took latencies
		codes := map[int]int{}
		for i := range n {
			start := time.Now()
			st, _ := testcluster.Call(t, "POST", node.URL+"/v1/auth/register", "",
				map[string]any{"handle": fmt.Sprintf("down%d_%d_%08x", side+1, i, rand.Uint32()), "password": "correct horse"})
			took = append(took, time.Since(start))
			codes[st]++
			if st == 201 {
				ok[side]++
			}
		}
		parts = append(parts, fmt.Sprintf("through dc%d's chatd %v (%s)", side+1, codes, took))
	}
	return strings.Join(parts, ", "), ok
}

// raceSend sends one message twice at once with the same client_msg_id, once
// through each DC's chatd (a client failing over while its first attempt is
// under way), n times with a claimed id (send_dedupe at LOCAL_SERIAL) and n
// times with a UUIDv7 (no claim: the id is derived from it). It counts the
// times the two attempts became two messages; a UUIDv7's must never.
func raceSend(t *testing.T, nodes [2]*testcluster.Node, n int) string {
	t.Helper()
	sender, receiver := register(t, nodes[0], "dsend"), register(t, nodes[0], "drecv")
	conv := retry(t, sender.Base, "POST", "/v1/conversations", sender.Token,
		map[string]any{"kind": "direct", "member_ids": []string{receiver.UserID}})["conversation"].(map[string]any)["id"].(string)
	// The sender's second device, through dc2, once its DC has the conversation.
	tokens := [2]string{sender.Token, login(t, nodes[1], sender.Handle, "correct horse")["token"].(string)}
	retryWhile404(t, nodes[1].URL, "/v1/conversations/"+conv, tokens[1])
	var out []string
	for _, kind := range []string{"claimed", "UUIDv7"} {
		twice := 0
		for i := range n {
			cmid := fmt.Sprintf("dcsend-%d-%08x", i, rand.Uint32())
			if kind == "UUIDv7" {
				cmid = testcluster.UUIDv7(time.Now())
			}
			var ids [2]string
			both(func(side int) {
				for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
					st, body := testcluster.Call(t, "POST", nodes[side].URL+"/v1/conversations/"+conv+"/messages", tokens[side],
						map[string]any{"client_msg_id": cmid, "body": "one message " + cmid})
					if st == 200 || st == 201 {
						ids[side], _ = body["message"].(map[string]any)["id"].(string)
						return
					}
					if (st != 0 && st != 503 && st != 504) || time.Now().After(deadline) {
						t.Errorf("send %s through dc%d: %d %v", cmid, side+1, st, body)
						return
					}
				}
			})
			if ids[0] != "" && ids[1] != "" && ids[0] != ids[1] {
				twice++
			}
		}
		out = append(out, fmt.Sprintf("%s client_msg_id: %d of %d sends raced through both DCs became two messages", kind, twice, n))
		if kind == "UUIDv7" && twice > 0 {
			t.Errorf("%d of %d UUIDv7 sends raced through both DCs became two messages", twice, n)
		}
	}
	return strings.Join(out, ", ")
}
