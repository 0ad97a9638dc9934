package ringtest

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/snowflake"
)

// Two data centres: dc2's one node joins the running dc1 ring (ring.sh start
// --two-dc, as `make ring-2dc`), a keyspace NetworkTopologyStrategy {dc1: 3,
// dc2: 1} is made by ringchat-migrate --dc-rf, and one chatd runs in each DC
// (--local-dc, its own DC's nodes as contact points) at LOCAL_QUORUM /
// LOCAL_SERIAL. Messages cross the DCs live and by sync; the claims that must
// be unique across DCs stay unique when raced through both; and with dc2's
// node killed dc1 keeps acknowledging sends and registering handles (a SERIAL
// claim needs 3 of the 4 replicas: dc1's three).
//
// It runs last (file order), so the other scenarios keep their three-node ring
// on a fresh machine; once dc2's node is recorded, `ring.sh start` starts it too.
func TestRingTwoDCs(t *testing.T) {
	began := time.Now()
	Up(t)
	joined := script(t, 25*time.Minute, "start", "--two-dc")
	DropStale(t)
	migrated := time.Now()
	ks := twoDCKeyspace(t)
	migrateTook := time.Since(migrated)
	nodes := [2]*testcluster.Node{
		testcluster.Start(t, chatdEnv(ks, Hosts(), "dc1")),
		testcluster.Start(t, chatdEnv(ks, []string{DC2Node + ":9042"}, "dc2")),
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, nodes[:])
		}
	})
	ready := time.Since(began)

	// Senders in each DC, each receiver's socket on the other DC's chatd.
	cross := StartLoad(t, nodes[:], 4, 20*time.Millisecond)
	cross.WaitAcks(cross.Mark(), 80, 2*time.Minute, "across the DCs")
	ids := distinctNodeIDs(t, cross)
	regs := raceRegister(t, nodes, 10)
	dms := raceDirect(t, nodes, 6)
	lwt := raceLWT(t, ks, 20)
	sends := raceSend(t, nodes, 10)

	// dc2's node down: dc1's service, measured on senders and receivers in dc1.
	local := StartLoad(t, nodes[:1], 2, 20*time.Millisecond)
	local.WaitAcks(local.Mark(), 40, 2*time.Minute, "in dc1 before dc2's node went down")
	cursors := dc2Cursors(t, cross, nodes[1])
	kill, xkill := local.Mark(), cross.Mark()
	viaDC1 := queriesTo(t, nodes[1], Nodes)
	script(t, time.Minute, "kill", DC2Node)
	host := regexp.QuoteMeta(DC2Node)
	waitMetric(t, nodes[0], `ringchat_cql_host_up\{host="`+host+`"\} 0`, time.Minute)
	seen := time.Since(kill.At)
	// dc2's chatd sees its one node down, and while it is, reads through
	// dc1's nodes, whose quorum is consistent: no reading across DCs yet
	// (repo.CatchUp; EACH_QUORUM could not be met).
	waitMetric(t, nodes[1], `ringchat_cql_host_up\{host="`+host+`"\} 0`, time.Minute)
	waitMetric(t, nodes[1], `ringchat_sync_across_dcs 0`, time.Second)
	local.WaitAcks(local.Mark(), 100, 2*time.Minute, "in dc1 with dc2's node down")
	serialDown, ok := registerEach(t, nodes, 5)
	if ok[0] != 5 {
		t.Errorf("registration through dc1 with dc2's node down: %d of 5 succeeded (%s); a SERIAL claim has dc1's three of four replicas", ok[0], serialDown)
	}
	time.Sleep(time.Until(kill.At.Add(20 * time.Second))) // at least 20 s of outage
	ackedDown, refusedDown := local.Since(kill)
	slowestDown := local.SlowestSince(kill.At)
	gap := local.LongestGap(kill.At, time.Now())
	xAcked, xRefused := cross.Since(xkill)
	viaDC1 = queriesTo(t, nodes[1], Nodes) - viaDC1

	// The restart runs beside the test so dc2's devices can sync the moment
	// dc2's chatd has its node back (it answers CQL before ring.sh calls it ready).
	back := time.Now()
	var restartErr error
	restarted := make(chan struct{})
	go func() { defer close(restarted); restartErr = Script(t, 15*time.Minute, "start-node", DC2Node) }()
	defer func() { <-restarted }() // Script logs through t: it must end before the test does
	waitMetric(t, nodes[1], `ringchat_cql_host_up\{host="`+host+`"\} 1`, 10*time.Minute)
	sawBack := time.Since(back)
	// Back, and missing what hints have not brought yet: dc2's chatd reads
	// at EACH_QUORUM from now (it acts before the driver routes to the node);
	// dc1's lost none of its own nodes.
	waitMetric(t, nodes[1], `ringchat_sync_across_dcs 1`, time.Second)
	waitMetric(t, nodes[0], `ringchat_sync_across_dcs 0`, time.Second)
	early := syncHole(t, cross, cursors, xkill.At, back)
	<-restarted
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	took := time.Since(back)
	if err := SchemaOn(ks, []string{DC2Node}, time.Minute); err != nil {
		t.Fatalf("%s came back without the schema: %v", DC2Node, err)
	}
	cross.WaitAcks(cross.Mark(), 40, 2*time.Minute, "across the DCs after dc2's node returned")
	hints := waitHints(t, DC2Node, 5*time.Minute, local, cross)
	skipped := early.skipped(t)
	if skipped > 0 || early.missing > 0 {
		t.Errorf("guarantee 3 across DCs: %s", early.summary(skipped))
	}
	// Hints are best effort: a write a dc1 coordinator sent to dc2's node
	// just before the kill, answered by dc1's replicas and never by it, may
	// have no hint. dc2's devices read dc2's one replica, so what it lacks
	// then needs the repair an operator runs after an outage
	// (docs/ring.md); the check after it must find everything.
	local.Halt()
	unhinted := cross.MissingFromSync(t, 15*time.Second)
	repair := "no repair needed: every acknowledged message was in its receiver's sync once the hints were replayed"
	if unhinted > 0 {
		took := script(t, 15*time.Minute, "nodetool", DC2Node, "repair", "-full", ks)
		repair = fmt.Sprintf("%d acknowledged messages were still missing from their dc2 receivers' sync once the hints were replayed; nodetool repair -full on %s took %s", unhinted, DC2Node, took.Round(time.Second))
	}
	rl, rx := local.Stop(t), cross.Stop(t)

	report(t, "two DCs, dc1 <-> dc2", rx, fmt.Sprintf("dc2's node joined the running ring in %s, keyspace {dc1: 3, dc2: 1} migrated in %s, both chatd serving %s after the start; %s; while dc2's node was down: %d acknowledged, %d refused (dc2's chatd sent %.0f queries to dc1's nodes meanwhile: the driver's DC-aware policy falls back to a remote DC); dc2's chatd had its node back %s after the restart began; %s; %s",
		joined.Round(time.Second), migrateTook.Round(time.Second), ready.Round(time.Second), ids, xAcked, xRefused, viaDC1, sawBack.Round(time.Second), early.summary(skipped), repair))
	t.Logf("RING two DCs, races: %s; %s; %s; %s", regs, dms, sends, lwt)
	report(t, "two DCs, dc2's node down (dc1's service)", rl, fmt.Sprintf("dc1's chatd saw it down after %s; while down (%s): %d acknowledged, %d refused (slowest %s), longest stall in acknowledgements %s; registrations while down %s; restart of dc2's node to CQL and all UN %s; after that, %s; the scenario took %s",
		seen.Round(time.Millisecond), back.Sub(kill.At).Round(time.Second), ackedDown, refusedDown, slowestDown.Round(time.Millisecond), gap.Round(time.Millisecond), serialDown, took.Round(time.Second), hints, time.Since(began).Round(time.Second)))
}

// queriesTo sums chatd n's ringchat_cql_host_queries_total over hosts.
func queriesTo(t *testing.T, n *testcluster.Node, hosts []string) float64 {
	t.Helper()
	metrics := scrape(t, n)
	var sum float64
	for _, h := range hosts {
		m := regexp.MustCompile(`ringchat_cql_host_queries_total\{host="` + regexp.QuoteMeta(h) + `"\} (\S+)`).FindStringSubmatch(metrics)
		if m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			sum += v
		}
	}
	return sum
}

// twoDCKeyspace makes the scenario's keyspace with ringchat-migrate --dc-rf
// dc1:3,dc2:1 and checks the replication Cassandra holds and every node's tables.
func twoDCKeyspace(t *testing.T) string {
	t.Helper()
	all := append(Hosts(), DC2Node+":9042")
	ks, err := migrate("t_ring2dc", all, "--dc-rf", "dc1:3,dc2:1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DropKeyspace(ks) })
	s, err := Session(all, "", gocql.Quorum)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var repl map[string]string
	if err := s.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&repl); err != nil {
		t.Fatal(err)
	}
	if repl["class"] != "org.apache.cassandra.locator.NetworkTopologyStrategy" || repl["dc1"] != "3" || repl["dc2"] != "1" || len(repl) != 3 {
		t.Fatalf("keyspace %s has replication %v, want NetworkTopologyStrategy {dc1: 3, dc2: 1}", ks, repl)
	}
	if err := SchemaOn(ks, append(Nodes[1:], DC2Node), time.Minute); err != nil {
		t.Fatal(err)
	}
	return ks
}

// distinctNodeIDs checks the two chatd hold different Snowflake node ids (a
// lease is a SERIAL claim) by the ids of the users each registered.
func distinctNodeIDs(t *testing.T, l *Load) string {
	t.Helper()
	byNode := map[string]map[int64]bool{}
	for _, p := range l.pairs {
		id, _ := strconv.ParseInt(p.sender.UserID, 10, 64)
		node := id >> 12 & snowflake.MaxNodeID
		if byNode[p.sender.Base] == nil {
			byNode[p.sender.Base] = map[int64]bool{}
		}
		byNode[p.sender.Base][node] = true
	}
	var all []int64
	seen := map[int64]string{}
	for base, ids := range byNode {
		for id := range ids {
			if other, dup := seen[id]; dup {
				t.Errorf("chatd %s and %s both mint ids with Snowflake node id %d", other, base, id)
			}
			seen[id] = base
			all = append(all, id)
		}
	}
	return fmt.Sprintf("Snowflake node ids by chatd %v", all)
}

// dc2Cursors is, for each load pair whose receiver's socket is on dc2's
// chatd, the cursor its device holds now (sync followed to the end).
func dc2Cursors(t *testing.T, l *Load, dc2 *testcluster.Node) map[*pair]string {
	t.Helper()
	out := map[*pair]string{}
	for _, p := range l.pairs {
		if p.receiver.Base == dc2.URL {
			_, out[p] = syncFrom(t, p.receiver, p.cursor)
		}
	}
	return out
}

// hole is what dc2's devices read right after dc2's node returned, before
// hints have replayed the writes it missed: read at LOCAL_QUORUM (its one
// replica), that sync lacked nearly all of them and handed out a cursor past
// them for good (399 of 406 in one run); dc2's chatd now reads sync at
// EACH_QUORUM while it catches up (repo.CatchUp), so both counts must be 0.
type hole struct {
	outage, missing int // messages sent to dc2's devices while its node was down; absent from the first sync after
	absent          map[*pair]map[string]bool
	next            map[*pair]string
}

func syncHole(t *testing.T, l *Load, cursors map[*pair]string, from, to time.Time) hole {
	t.Helper()
	h := hole{absent: map[*pair]map[string]bool{}, next: map[*pair]string{}}
	l.mu.Lock()
	sent := map[*pair][]string{}
	for p := range cursors {
		for _, id := range p.acked {
			n, _ := strconv.ParseInt(id, 10, 64)
			if at := snowflake.Time(n); at.After(from) && at.Before(to) {
				sent[p] = append(sent[p], id)
			}
		}
	}
	l.mu.Unlock()
	for p, cursor := range cursors {
		got, next := syncFrom(t, p.receiver, cursor)
		h.next[p], h.absent[p] = next, map[string]bool{}
		for _, id := range sent[p] {
			h.outage++
			if !got[id] {
				h.missing++
				h.absent[p][id] = true
			}
		}
	}
	return h
}

// skipped syncs again from the cursors the first sync handed back, now that
// the hints are replayed, and counts the messages that sync can no longer reach.
func (h hole) skipped(t *testing.T) int {
	t.Helper()
	n := 0
	for p, absent := range h.absent {
		got, _ := syncFrom(t, p.receiver, h.next[p])
		for id := range absent {
			if !got[id] {
				n++
			}
		}
	}
	return n
}

func (h hole) summary(skipped int) string {
	return fmt.Sprintf("a dc2 device syncing as soon as dc2's chatd saw its node back missed %d of the %d messages sent to it during the outage (hints not yet replayed), and following the cursor it was handed never got %d of them",
		h.missing, h.outage, skipped)
}
