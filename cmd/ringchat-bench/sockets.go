package main

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Partial is one process's share of a socket workload: the users [lo, hi)
// it held sockets for. The coordinator merges them (mergePartials).
type Partial struct {
	Connections  int                    `json:"connections"`
	Sent         int64                  `json:"sent"`
	Errors       int64                  `json:"errors"`
	SyncRequired int64                  `json:"sync_required"`
	FirstError   string                 `json:"first_error,omitempty"`
	SendSeconds  float64                `json:"send_seconds"`
	Unanswered   int                    `json:"unanswered"` // sends with neither ack nor error at the end
	Ack          *hdrhistogram.Snapshot `json:"ack"`
	Delivery     *hdrhistogram.Snapshot `json:"delivery"`
	// Expect: acknowledged message id -> devices that must get it (sent from here).
	Expect map[string]int `json:"expect"`
	// Got: message id -> {distinct users, deliveries} among this process's devices.
	Got map[string][2]int `json:"got"`
}

// runSockets opens the sockets of users [lo, hi), calls ready (which returns
// when the run is to start), then drives this process's share of the
// workload and reports what it saw.
func runSockets(ctx context.Context, o options, pop *Population, lo, hi int, ready func(), progress func(string)) (Partial, error) {
	r := &run{stats: newStats(), expect: map[string]int{}, received: map[string]map[int64]int{}, audience: audience(pop)}
	var part Partial
	devs, err := dial(ctx, o.urls(), pop, lo, hi, r, progress)
	for _, d := range devs {
		if d != nil {
			part.Connections++
			defer d.conn.Close()
		}
	}
	if err != nil {
		return part, err
	}
	progress(fmt.Sprintf("%d sockets open", part.Connections))
	ready()
	if o.workload == "idle" {
		return part, nil
	}
	share := float64(hi-lo) / float64(len(pop.Users))
	t := newTarget(devs, pop, lo, hi, o.groupShare)
	start := time.Now()
	switch {
	case o.workload == "surge":
		calm := o.surgeCalm()
		part.Sent = driveOpen(ctx, t, []phase{{o.rate * share, calm}, {10 * o.rate * share, o.surgeFor}, {o.rate * share, calm}}, o.size, &r.stats.errors, progress)
	case o.rate > 0:
		part.Sent = driveOpen(ctx, t, []phase{{o.rate * share, o.duration}}, o.size, &r.stats.errors, progress)
	default:
		part.Sent = driveClosed(ctx, t, max(1, int(float64(o.inflight)*share)), o.duration, o.size, &r.stats.errors, progress)
	}
	part.SendSeconds = time.Since(start).Seconds()
	r.drain(o.drain)
	r.fill(&part)
	return part, nil
}

// drain waits, at most max, until every send is answered and every
// acknowledged message has reached all its devices: a slow run is waited
// for rather than counted as losses.
func (r *run) drain(max time.Duration) {
	for deadline := time.Now().Add(max); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r.unanswered() == 0 && r.allDelivered() {
			return
		}
	}
}

func (r *run) unanswered() int {
	n := 0
	r.pending.Range(func(any, any) bool { n++; return true })
	return n
}

func (r *run) allDelivered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, want := range r.expect {
		if len(r.received[id]) < want {
			return false
		}
	}
	return true
}

// fill copies what the readers counted into part. Readers may still be
// counting (a late ack), so it copies under the lock.
func (r *run) fill(part *Partial) {
	part.Unanswered = r.unanswered()
	r.mu.Lock()
	defer r.mu.Unlock()
	part.Expect = maps.Clone(r.expect)
	part.Got = make(map[string][2]int, len(r.received))
	for id, users := range r.received {
		n := 0
		for _, c := range users {
			n += c
		}
		part.Got[id] = [2]int{len(users), n}
	}
	part.Errors = r.stats.errors.Load()
	if e, ok := r.firstError.Load().(string); ok {
		part.FirstError = e
	}
	part.SyncRequired = r.stats.syncRequired.Load()
	r.stats.mu.Lock()
	part.Ack, part.Delivery = r.stats.ackHist.Export(), r.stats.deliverHist.Export()
	r.stats.mu.Unlock()
}

// mergePartials adds the processes' shares into res: a message is lost when
// fewer distinct devices got it than its audience, duplicated for every
// delivery past the first on one device.
func mergePartials(parts []Partial, res *Result) {
	ack, deliver := newStats().ackHist, newStats().deliverHist
	expect := map[string]int{}
	got := map[string][2]int{}
	var sendSeconds float64
	for _, p := range parts {
		res.Connections += p.Connections
		res.Sent += p.Sent
		res.Unanswered += p.Unanswered
		res.Errors += p.Errors
		res.SyncRequired += p.SyncRequired
		if res.FirstError == "" {
			res.FirstError = p.FirstError
		}
		sendSeconds = max(sendSeconds, p.SendSeconds)
		if p.Ack != nil {
			ack.Merge(hdrhistogram.Import(p.Ack))
			deliver.Merge(hdrhistogram.Import(p.Delivery))
		}
		for id, n := range p.Expect {
			expect[id] = n
		}
		for id, g := range p.Got {
			sum := got[id]
			got[id] = [2]int{sum[0] + g[0], sum[1] + g[1]}
		}
	}
	res.Acked = int64(len(expect))
	for id, want := range expect {
		res.Expected += int64(want)
		g := got[id]
		res.Lost += int64(max(0, want-g[0]))
		res.Delivered += int64(g[1])
		res.Duplicates += int64(g[1] - g[0])
	}
	res.Ack, res.Delivery = summarize(ack), summarize(deliver)
	if sendSeconds > 0 {
		res.Throughput = float64(res.Acked) / sendSeconds
	}
}
