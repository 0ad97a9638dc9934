package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

// A small run of the load generator against a real chatd and the real node, in
// make test: it fails on any lost or duplicated delivery, never on timings.
func TestSmallReferenceRun(t *testing.T) {
	_, ks := cqltest.NewKeyspace(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	node := testcluster.Start(t, map[string]string{"RINGCHAT_CASSANDRA_HOSTS": strings.Join(cqltest.Hosts(), ","), "RINGCHAT_KEYSPACE": ks})
	o := options{workload: "reference", url: node.URL, hosts: strings.Join(cqltest.Hosts(), ","), keyspace: ks,
		out: t.TempDir(), cache: t.TempDir(), users: 300, size: 4000, rate: 60, duration: 10 * time.Second, drain: 90 * time.Second,
		groups: "10x10,1x150", groupShare: 0.2, pushMax: 100} // a pull group (150) and push groups
	res, err := bench(context.Background(), o, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	if err := write(o.out, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.markdown())
	// Never on timings: a send the loaded CI machine answers with
	// unavailable (too slow) is allowed; one never answered is not.
	if res.Connections != 300 || res.Acked == 0 || res.Unanswered != 0 {
		t.Fatalf("run did not go as driven: %d sockets, %d sent, %d acked, %d unanswered, %d errors (first: %s)",
			res.Connections, res.Sent, res.Acked, res.Unanswered, res.Errors, res.FirstError)
	}
	if res.Lost != 0 || res.Duplicates != 0 {
		t.Fatalf("%d lost and %d duplicated deliveries", res.Lost, res.Duplicates)
	}
	if res.Delivery.Count != res.Expected {
		t.Fatalf("%d deliveries timed, %d expected", res.Delivery.Count, res.Expected)
	}
}

func TestProcSampling(t *testing.T) {
	p, err := readProc(1)
	if err != nil || p.RSSBytes <= 0 {
		t.Fatalf("/proc/1: %+v %v", p, err)
	}
}

// A worker's CPU still counts after it exits: it moves to the parent's
// cutime, which the generator's sample adds (a sum that fell when workers
// exited once reported negative CPU for a run).
func TestExitedChildCPUIsCounted(t *testing.T) {
	before, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	busy := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := busy.Run(); err != nil {
		t.Fatal(err)
	}
	after, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.reapedCPU-before.reapedCPU < 0.05 {
		t.Fatalf("an exited child's CPU is not counted: reaped %.2f s before, %.2f s after", before.reapedCPU, after.reapedCPU)
	}
}

// Deliveries of one message counted in several worker processes add up: a
// device that never got it is lost, a second delivery to one device a duplicate.
func TestMergePartials(t *testing.T) {
	h := newStats()
	h.ack(5e6)
	h.deliver(7e6)
	snap := func() Partial {
		return Partial{Connections: 2, Sent: 1, Ack: h.ackHist.Export(), Delivery: h.deliverHist.Export(),
			Expect: map[string]int{}, Got: map[string][2]int{}}
	}
	p1, p2 := snap(), snap()
	p1.Expect["m1"] = 3 // a three-member group sent from process 1
	p1.Got["m1"] = [2]int{1, 1}
	p2.Got["m1"] = [2]int{1, 2} // one device there got it twice; the third device never did
	p2.Expect["m2"] = 2
	p1.Got["m2"] = [2]int{1, 1}
	p2.Got["m2"] = [2]int{1, 1}
	p2.Got["unacked"] = [2]int{1, 1} // delivered but never acknowledged: not counted
	var res Result
	mergePartials([]Partial{p1, p2}, &res)
	if res.Connections != 4 || res.Sent != 2 || res.Acked != 2 || res.Expected != 5 {
		t.Fatalf("counts: %+v", res)
	}
	if res.Lost != 1 || res.Duplicates != 1 || res.Delivered != 5 {
		t.Fatalf("lost %d (want 1), duplicates %d (want 1), delivered %d (want 5)", res.Lost, res.Duplicates, res.Delivered)
	}
	if res.Ack.Count != 2 || res.Delivery.Count != 2 || res.Ack.P50 < 4.9 || res.Ack.P50 > 5.1 {
		t.Fatalf("histograms not merged: %+v %+v", res.Ack, res.Delivery)
	}
}

// The generator's client ids are canonical UUIDv7s of the send time, what
// chatd's derived-id path recognises (issue 13), and never repeat.
func TestClientMsgIDIsCanonicalUUIDv7(t *testing.T) {
	canonical := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		before := time.Now().UnixMilli()
		id := clientMsgID()
		after := time.Now().UnixMilli()
		if !canonical.MatchString(id) {
			t.Fatalf("%q is not a canonical lower-case UUIDv7", id)
		}
		ms, err := strconv.ParseInt(strings.ReplaceAll(id[:13], "-", ""), 16, 64)
		if err != nil || ms < before || ms > after {
			t.Fatalf("%q carries %d ms, sent between %d and %d", id, ms, before, after)
		}
		if seen[id] {
			t.Fatalf("%q repeated", id)
		}
		seen[id] = true
	}
}
