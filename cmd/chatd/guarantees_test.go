package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

// These tests run real chatd processes against the real Cassandra node.

func nodeEnv(t *testing.T, settings schema.Settings) map[string]string {
	t.Helper()
	_, ks := cqltest.NewKeyspace(t, settings)
	return map[string]string{
		"RINGCHAT_CASSANDRA_HOSTS": strings.Join(cqltest.Hosts(), ","),
		"RINGCHAT_KEYSPACE":        ks,
		"RINGCHAT_NODE_LEASE_TTL":  "10s",
	}
}

// Guarantee 1: a send acknowledged before kill -9 is there after a restart.
func TestAcknowledgedSendSurvivesKill9(t *testing.T) {
	env := nodeEnv(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	node := testcluster.Start(t, env)
	a := testcluster.Register(t, node, "k9a")
	b := testcluster.Register(t, node, "k9b")
	conv := a.Direct(b)

	var acked []string
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // keep sending until the crash; record what was acknowledged
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			st, id := a.Send(conv, fmt.Sprintf("k9-%d", i), fmt.Sprintf("message %d", i))
			if st == 201 {
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond) // sends stream for 1.5 s: the scenario
	node.Kill()                         // then SIGKILL, mid-stream
	close(stop)
	<-done
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the kill")
	}

	restarted := testcluster.Start(t, env)
	reader := b.On(restarted)
	stored := map[string]bool{}
	cursor := ""
	for page := 0; page < 100; page++ {
		q := "/v1/conversations/" + conv + "/messages?limit=100"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		st, body := reader.Do("GET", q, nil)
		if st != 200 {
			t.Fatalf("history after restart: %d %v", st, body)
		}
		for _, m := range body["messages"].([]any) {
			stored[m.(map[string]any)["id"].(string)] = true
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged message %s lost after kill -9", id)
		}
	}
	t.Logf("%d acknowledged sends, all present after kill -9 and restart", len(acked))
}

// Guarantee 3: with two chatd nodes writing concurrently into the same
// conversations, one of them slow between making an id and writing it, a
// device syncing from an old cursor gets every message exactly once and in
// order. The test also counts how often a naive "largest id seen" cursor
// would have skipped a message, to show the hole was really there.
func TestSyncNeverSkipsWithConcurrentWriters(t *testing.T) {
	env := nodeEnv(t, schema.Settings{MessageBucket: 2 * time.Second, InboxBucket: time.Second})
	slowEnv := map[string]string{"RINGCHAT_DEBUG_SEND_DELAY": "700ms"}
	for k, v := range env {
		slowEnv[k] = v
	}
	fast := testcluster.Start(t, env)
	slow := testcluster.Start(t, slowEnv)

	reader := testcluster.Register(t, fast, "snr")
	a := testcluster.Register(t, fast, "sna")
	b := testcluster.Register(t, slow, "snb")
	convA := a.Direct(reader)
	convB := b.Direct(reader)
	aOnSlow := a.On(slow)
	_, oldCursor := reader.SyncOnce("") // an old cursor: taken before anything is sent
	cursor := oldCursor

	const perSender = 25
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for w, s := range []struct {
		c    *testcluster.Client
		conv string
	}{{a, convA}, {aOnSlow, convA}, {b, convB}, {reader.On(slow), convB}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perSender; i++ {
				st, id := s.c.Send(s.conv, fmt.Sprintf("w%d-%d", w, i), "concurrent")
				if st != 201 {
					t.Errorf("send: status %d", st)
					return
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}()
	}

	// A live device polls while the writers write, dropping repeats by event id.
	sendsDone := make(chan struct{})
	go func() { wg.Wait(); close(sendsDone) }()
	seenEvents := map[string]bool{}
	got := map[string]int{}
	maxSeen := ""
	naiveSkips := 0
	poll := func() {
		events, next := reader.SyncOnce(cursor)
		cursor = next
		batchMax := maxSeen
		for _, ev := range events {
			if seenEvents[ev.ID] {
				continue
			}
			seenEvents[ev.ID] = true
			got[ev.MsgID]++
			if idLess(ev.MsgID, maxSeen) {
				naiveSkips++ // a cursor at the largest id seen would never have returned this one
			}
			if idLess(batchMax, ev.MsgID) {
				batchMax = ev.MsgID
			}
		}
		maxSeen = batchMax
	}
	for polling := true; polling; {
		select {
		case <-sendsDone:
			polling = false
		case <-time.After(150 * time.Millisecond):
			poll()
		}
	}
	// Until the safe point passes every write: the cursor stands at or past now.
	written := snowflake.MinIDAt(time.Now())
	for deadline := time.Now().Add(60 * time.Second); testcluster.SyncPosition(cursor) < written; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the live device's cursor never passed the last write within 60 s")
		}
		poll()
	}
	checkExactlyOnce(t, "live device", acked, got)
	if naiveSkips == 0 {
		t.Errorf("no message committed behind a newer one: the test did not exercise the hole")
	}

	// A device that was offline throughout syncs from the old cursor: every
	// message exactly once, strictly in id order, with no repeats to drop.
	events, _ := reader.SyncOnce(oldCursor)
	offline := map[string]int{}
	for i, ev := range events {
		offline[ev.MsgID]++
		if i > 0 && !idLess(events[i-1].ID, ev.ID) {
			t.Fatalf("offline sync out of order: event %s after %s", ev.ID, events[i-1].ID)
		}
	}
	checkExactlyOnce(t, "offline device", acked, offline)
	t.Logf("%d messages from 2 nodes; each seen exactly once; a naive max-id cursor would have skipped %d", len(acked), naiveSkips)
}

func checkExactlyOnce(t *testing.T, who string, acked map[string]bool, got map[string]int) {
	t.Helper()
	for id := range acked {
		if got[id] != 1 {
			t.Errorf("%s: message %s seen %d times, want exactly once", who, id, got[id])
		}
	}
	if len(got) != len(acked) {
		t.Errorf("%s saw %d distinct messages, %d were acknowledged", who, len(got), len(acked))
	}
}

func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
