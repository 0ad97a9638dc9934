package main

import (
	"context"
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
		out: t.TempDir(), cache: t.TempDir(), users: 300, size: 4000, rate: 60, duration: 10 * time.Second, drain: 5 * time.Second,
		groups: "10x10,1x150", groupShare: 0.2, pushMax: 100} // a pull group (150) and push groups
	res, err := bench(context.Background(), o, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	if err := write(o.out, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.markdown())
	if res.Connections != 300 || res.Acked < res.Sent*9/10 || res.Errors != 0 {
		t.Fatalf("run did not go as driven: %d sockets, %d sent, %d acked, %d errors (first: %s)", res.Connections, res.Sent, res.Acked, res.Errors, res.FirstError)
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
