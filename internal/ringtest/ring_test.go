package ringtest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/snowflake"
)

// The nodes the scenarios take down: never the seed (127.0.0.2), so the
// ring's gossip always has a seed to return to.
var victimA, victimB = Nodes[2], Nodes[1]

var shared struct {
	once sync.Once
	ks   string
	err  error
}

func TestMain(m *testing.M) {
	// One ring per machine (its addresses are the machine's): a second run of
	// these scenarios, from any checkout, waits for the first instead of
	// killing its nodes under it.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "ringchat-ring.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		fmt.Fprintln(os.Stderr, "ringtest: waiting for the machine's ring lock", lock.Name())
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringtest: ring lock:", err)
		os.Exit(1)
	}
	code := m.Run()
	if shared.ks != "" {
		DropKeyspace(shared.ks)
	}
	os.Exit(code)
}

// setup brings the ring up (whole: an earlier scenario's casualty too), makes
// the package's RF 3 keyspace once and starts two chatd nodes on it at
// LOCAL_QUORUM / LOCAL_SERIAL.
func setup(t *testing.T) ([]*testcluster.Node, string) {
	Up(t)
	DropStale(t)
	shared.once.Do(func() { shared.ks, shared.err = Keyspace() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	ks := shared.ks
	if err := SchemaOn(ks, Nodes, time.Minute); err != nil {
		t.Fatal(err)
	}
	env := chatdEnv(ks, Hosts(), "dc1")
	nodes := []*testcluster.Node{testcluster.Start(t, env), testcluster.Start(t, env)}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, nodes)
		}
	})
	return nodes, ks
}

// chatdEnv is a chatd's settings on keyspace ks at LOCAL_QUORUM /
// LOCAL_SERIAL in dc with hosts as contact points. The local DC matters once
// dc2's node is in the ring: the driver discovers it, and without a local DC
// its round-robin fallback would coordinate unrouted queries there, where a
// dc1-only keyspace has no replica for LOCAL_QUORUM.
func chatdEnv(ks string, hosts []string, dc string) map[string]string {
	return map[string]string{
		"RINGCHAT_CASSANDRA_HOSTS":    strings.Join(hosts, ","),
		"RINGCHAT_KEYSPACE":           ks,
		"RINGCHAT_LOCAL_DC":           dc,
		"RINGCHAT_CONSISTENCY":        "LOCAL_QUORUM",
		"RINGCHAT_SERIAL_CONSISTENCY": "LOCAL_SERIAL",
		"RINGCHAT_CLUSTER_SECRET":     "ring-test-cluster-secret",
		"RINGCHAT_NODE_TTL":           "3s",
		// Longer than any outage here: a chatd whose Snowflake lease cannot be
		// renewed (no quorum) exits by design (docs/ring.md), and these tests
		// want to see chatd ride out an outage, not a supervisor restart it.
		"RINGCHAT_NODE_LEASE_TTL": "15m",
		"RINGCHAT_LOG_LEVEL":      "info", // the driver's host up/down lines
	}
}

func script(t *testing.T, timeout time.Duration, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := Script(t, timeout, args...); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// startNode starts addr again, waits until it is back and knows the
// keyspace's tables, and returns how long the start took.
func startNode(t *testing.T, keyspace, addr string) time.Duration {
	t.Helper()
	took := script(t, 15*time.Minute, "start-node", addr)
	if err := SchemaOn(keyspace, []string{addr}, time.Minute); err != nil {
		t.Fatalf("%s came back without the schema: %v", addr, err)
	}
	return took
}

// report writes a scenario's figures to the test log in one line docs/ring.md quotes.
func report(t *testing.T, name string, r Result, extra string) {
	t.Logf("RING %s: acknowledged %d, refused %d (retried, same client_msg_id; slowest refusal %s), lost %d, duplicated %d, live %d/%d; %s",
		name, r.Acked, r.Refused, r.SlowestRefusal.Round(time.Millisecond), r.Lost, r.Duplicated, r.Live, r.Acked, extra)
	if r.Acked > 0 && r.Live*10 < r.Acked*9 {
		t.Errorf("only %d of %d acknowledged messages reached their receiver's socket live", r.Live, r.Acked)
	}
}

func scrape(t *testing.T, n *testcluster.Node) string {
	t.Helper()
	res, err := http.Get("http://" + n.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// waitMetric polls n's metrics until re matches, or fails.
func waitMetric(t *testing.T, n *testcluster.Node, re string, timeout time.Duration) {
	t.Helper()
	want := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for !want.MatchString(scrape(t, n)) {
		if time.Now().After(deadline) {
			t.Fatalf("chatd's metrics never matched %s within %s", re, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// missingAt reads every acknowledged message at cons through hosts and
// counts the ones the read lacks.
func missingAt(t *testing.T, hosts []string, cons gocql.Consistency, keyspace string, acked map[string][]string) (missing, total int) {
	ids, total := missingIDs(t, hosts, cons, keyspace, acked)
	return len(ids), total
}

// missingIDs is missingAt naming the messages the read lacks (conversation/message, made at).
func missingIDs(t *testing.T, hosts []string, cons gocql.Consistency, keyspace string, acked map[string][]string) (missing []string, total int) {
	t.Helper()
	s, err := Session(hosts, keyspace, cons)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for conv, ids := range acked {
		convID, _ := strconv.ParseInt(conv, 10, 64)
		have := map[int64]bool{}
		buckets := map[int32]bool{}
		for _, id := range ids {
			n, _ := strconv.ParseInt(id, 10, 64)
			buckets[snowflake.Bucket(n, time.Hour.Milliseconds())] = true
		}
		for b := range buckets {
			iter := s.Query(`SELECT msg_id FROM messages_by_conversation WHERE conv_id = ? AND bucket = ?`, convID, b).Iter()
			var id int64
			for iter.Scan(&id) {
				have[id] = true
			}
			if err := iter.Close(); err != nil {
				t.Fatalf("read %v at %s: %v", hosts, cons, err)
			}
		}
		for _, id := range ids {
			n, _ := strconv.ParseInt(id, 10, 64)
			total++
			if !have[n] {
				missing = append(missing, fmt.Sprintf("%s/%s (%s)", conv, id, snowflake.Time(n).Format("15:04:05.000")))
			}
		}
	}
	return missing, total
}

// replicaHas checks a read at QUORUM holds every acknowledged message and
// waits until a read at ONE from addr alone (its own replica, filled by hint
// replay) holds those made after down, when addr was dead: hints cover what
// it missed while down. It returns how long the replica took, and the
// messages made before the kill its replica lacks: ones it had taken and
// answered (so no hint covers them) but lost with the kill, most likely the
// commit log's tail not yet marked synced (periodic mode); the other two
// replicas hold them.
func replicaHas(t *testing.T, addr, keyspace string, acked map[string][]string, down time.Time) (time.Duration, []string) {
	t.Helper()
	if missing, total := missingAt(t, Hosts(), gocql.Quorum, keyspace, acked); missing > 0 {
		t.Errorf("a read at QUORUM lacks %d of %d acknowledged messages", missing, total)
	}
	after, before := map[string][]string{}, map[string][]string{}
	for conv, ids := range acked {
		for _, id := range ids {
			n, _ := strconv.ParseInt(id, 10, 64)
			if snowflake.Time(n).After(down) {
				after[conv] = append(after[conv], id)
			} else {
				before[conv] = append(before[conv], id)
			}
		}
	}
	start := time.Now()
	for {
		missing, total := missingIDs(t, []string{addr + ":9042"}, gocql.One, keyspace, after)
		if len(missing) == 0 {
			lost, _ := missingIDs(t, []string{addr + ":9042"}, gocql.One, keyspace, before)
			return time.Since(start), lost
		}
		if time.Since(start) > 3*time.Minute {
			t.Errorf("a read at ONE from %s still lacks %d of the %d acknowledged messages made while it was down, 3 minutes after its hints were replayed: %v",
				addr, len(missing), total, missing[:min(len(missing), 5)])
			return time.Since(start), nil
		}
		time.Sleep(2 * time.Second)
	}
}

// hintDrain is how the hints for a returning node were replayed.
type hintDrain struct {
	took      time.Duration // from the wait's start until no hint file was left
	underLoad bool          // drained while the load still ran
}

func (h hintDrain) String() string {
	if h.underLoad {
		return fmt.Sprintf("hints replayed under load in %s", h.took.Round(time.Second))
	}
	return fmt.Sprintf("hints not replayed in %s under load, replayed %s after the load was halted", hintsUnderLoad, h.took.Round(time.Second))
}

// hintsUnderLoad is how long the hints may take with the load running. A
// hint counts only once the returning node applies it within
// write_request_timeout, and one late hint sends its whole page again
// (HintsDispatcher aborts the page), so on two cores shared by every node
// and chatd a freshly started node can stay behind for good while the load
// runs: it drops the replayed hints as timed out faster than they arrive
// (docs/ring.md). What the scenarios check is that the replay completes;
// halting the load past this bound is the operator's "let it catch up".
const hintsUnderLoad = 90 * time.Second

// waitHints polls until the live nodes hold no hints for addr. Past
// hintsUnderLoad it halts the loads (their acknowledgements are kept for
// the checks that follow) and waits up to timeout in all.
func waitHints(t *testing.T, addr string, timeout time.Duration, loads ...*Load) hintDrain {
	t.Helper()
	start := time.Now()
	drain := hintDrain{underLoad: true}
	for {
		n, err := PendingHints(addr)
		if err == nil && n == 0 {
			drain.took = time.Since(start)
			return drain
		}
		if drain.underLoad && time.Since(start) > hintsUnderLoad {
			t.Logf("hints for %s still pending after %s under load (%d files, %v): halting the load", addr, hintsUnderLoad, n, err)
			for _, l := range loads {
				l.Halt()
			}
			drain.underLoad = false
		}
		if time.Since(start) > timeout {
			t.Fatalf("hints for %s still pending after %s, %s of them without load (%d files, %v)", addr, timeout, timeout-hintsUnderLoad, n, err)
		}
		time.Sleep(time.Second)
	}
}

// kill -9 one node under load: sends keep being acknowledged, the only errors
// are retryable ones, and once it is back its replica (hints replayed) and a
// QUORUM read hold every acknowledged message. The driver says so: the node
// goes down and comes back up in chatd's metrics and logs.
func TestRingKillOneNode(t *testing.T) {
	nodes, ks := setup(t)
	load := StartLoad(t, nodes, 4, 20*time.Millisecond)
	load.WaitAcks(load.Mark(), 40, 2*time.Minute, "before the kill")
	// Token-aware routing spreads the queries over all three replicas.
	for _, n := range Nodes {
		waitMetric(t, nodes[0], fmt.Sprintf(`ringchat_cql_host_queries_total\{host="%s"\} [1-9]`, regexp.QuoteMeta(n)), time.Minute)
	}

	kill := load.Mark()
	script(t, time.Minute, "kill", victimA)
	killed := time.Now() // the node is dead from here; ring.sh took a moment to start
	waitMetric(t, nodes[0], fmt.Sprintf(`ringchat_cql_host_up\{host="%s"\} 0`, regexp.QuoteMeta(victimA)), time.Minute)
	down := time.Since(kill.At)
	load.WaitAcks(kill, 100, 2*time.Minute, "with one node down")
	time.Sleep(10 * time.Second) // the scenario: ten seconds of load on two replicas
	ackedDown, refusedDown := load.Since(kill)
	gap := load.LongestGap(kill.At, time.Now())

	back := time.Now()
	took := startNode(t, ks, victimA)
	waitMetric(t, nodes[0], fmt.Sprintf(`ringchat_cql_host_up\{host="%s"\} 1`, regexp.QuoteMeta(victimA)), 2*time.Minute)
	load.WaitAcks(load.Mark(), 40, 2*time.Minute, "after the restart")
	hints := waitHints(t, victimA, 5*time.Minute, load)
	r := load.Stop(t)
	replica, lost := replicaHas(t, victimA, ks, load.AckedIDs(), killed)
	if logs := nodes[0].Logs(); !strings.Contains(logs, "cassandra host down") || !strings.Contains(logs, victimA) {
		t.Errorf("chatd logged no 'cassandra host down' for %s:\n%.2000s", victimA, logs)
	}
	report(t, "kill -9 one node", r, fmt.Sprintf("while down: %d acknowledged, %d refused; driver saw it down after %s; longest stall in acknowledgements %s; node restart to CQL and all UN %s; after that, %s; its replica read at ONE held every acknowledged message made while it was down %s later, and lacked %d made before the kill %v; restart begun at +%s; killed by %s",
		ackedDown, refusedDown, down.Round(time.Millisecond), gap.Round(time.Millisecond), took.Round(time.Second), hints, replica.Round(time.Second), len(lost), lost[:min(len(lost), 3)], back.Sub(kill.At).Round(time.Second), killed.Format("15:04:05.000")))
}

// Two of three down: nothing is acknowledged (no quorum), every refusal is a
// quick 503 with Retry-After, and service comes back by itself when one node
// returns; the refused sends, retried with their client_msg_id, are stored once.
func TestRingTwoNodesDown(t *testing.T) {
	nodes, ks := setup(t)
	load := StartLoad(t, nodes, 4, 20*time.Millisecond)
	load.WaitAcks(load.Mark(), 40, 2*time.Minute, "before the kills")
	kill := load.Mark()
	script(t, time.Minute, "kill", victimA)
	script(t, time.Minute, "kill", victimB)
	time.Sleep(5 * time.Second) // past the sends in flight at the kill
	quiet := load.Mark()
	time.Sleep(15 * time.Second) // the scenario: fifteen seconds without a quorum
	acked, refused := load.Since(quiet)
	slowest := load.SlowestSince(quiet.At)
	if acked > 0 {
		t.Errorf("%d sends acknowledged with two of three replicas down", acked)
	}
	if refused == 0 {
		t.Error("no send refused with two of three replicas down")
	}
	if slowest > 5*time.Second {
		t.Errorf("a refusal took %s: not failing fast", slowest)
	}

	back := time.Now()
	took := startNode(t, ks, victimB)
	recovered, ok := load.FirstAckAfter(back)
	if !ok {
		load.WaitAcks(load.Mark(), 1, 2*time.Minute, "after one node returned")
		recovered, _ = load.FirstAckAfter(back)
	}
	load.WaitAcks(load.Mark(), 40, 2*time.Minute, "with two nodes up again")
	startNode(t, ks, victimA) // the ring whole for what follows
	r := load.Stop(t)
	report(t, "two of three down", r, fmt.Sprintf("while two were down (15 s): %d acknowledged, %d refused, slowest refusal %s; first acknowledgement %s after the restart of one node began (its restart to CQL and all UN: %s); kill at %s",
		acked, refused, slowest.Round(time.Millisecond), recovered.Round(time.Second), took.Round(time.Second), kill.At.Format(time.TimeOnly)))
}

// A rolling restart of all three nodes (drain, stop, start, wait until the
// ring sees it up, next) under load: no acknowledged message lost.
func TestRingRollingRestart(t *testing.T) {
	nodes, ks := setup(t)
	load := StartLoad(t, nodes, 4, 20*time.Millisecond)
	load.WaitAcks(load.Mark(), 40, 2*time.Minute, "before the restarts")
	start := load.Mark()
	var steps []string
	for _, addr := range Nodes {
		m := load.Mark()
		took := script(t, 3*time.Minute, "stop-node", addr)
		took += startNode(t, ks, addr)
		acked, refused := load.Since(m)
		steps = append(steps, fmt.Sprintf("%s %s (%d acknowledged, %d refused, longest stall %s)",
			addr, took.Round(time.Second), acked, refused, load.LongestGap(m.At, time.Now()).Round(time.Millisecond)))
		load.WaitAcks(load.Mark(), 20, 2*time.Minute, "after restarting "+addr)
	}
	total := time.Since(start.At)
	r := load.Stop(t)
	report(t, "rolling restart", r, fmt.Sprintf("three restarts in %s: %s", total.Round(time.Second), strings.Join(steps, "; ")))
}
