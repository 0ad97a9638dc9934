package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The overload workload (issue 13, target 5): a closed loop finds how many
// sends in flight saturate one node (doubling until one more doubling gains
// under a tenth), then keeps four times that many in flight for -duration.
// Its clients behave as the SDK will: a refusal (unavailable, rate_limited)
// is retried with the same client_msg_id after the error frame's
// retry_after_ms. The answer: what share of the saturated throughput is still
// acknowledged, and what a refusal costs.

// OverloadRun is the overload workload's answer; Result.Ack and
// Result.Throughput are its overload phase.
type OverloadRun struct {
	Ramp          []OverloadStep `json:"ramp"`
	Saturating    int            `json:"saturating_inflight"` // the count whose doubling gained under 10 %
	SaturatedPerS float64        `json:"saturated_acked_per_s"`
	Overload      OverloadStep   `json:"overload"`
	Goodput       float64        `json:"goodput_share"` // overload acked/s over saturated acked/s
}

// OverloadStep is one closed-loop stretch at a count of sends in flight.
// Latency runs from a send's first attempt to its ack, retries included.
type OverloadStep struct {
	InFlight  int     `json:"inflight"`
	Seconds   float64 `json:"seconds"`
	Acked     int64   `json:"acked"`
	AckedPerS float64 `json:"acked_per_s"`
	Refused   int64   `json:"refused"` // error frames with a retry hint
	Retries   int64   `json:"retries"` // attempts after the first (each after its hint)
	Failed    int64   `json:"failed"`  // errors without a hint, and sends never answered
	Ack       Latency `json:"send_to_ack"`
	// CPU per acknowledged message, ms (0: that process was not sampled).
	ChatdCPUms     float64 `json:"chatd_cpu_ms_per_ack"`
	CassandraCPUms float64 `json:"cassandra_cpu_ms_per_ack"`
}

// overloadStepFor is one ramp step's length: a quarter of -duration, 5–15 s.
func overloadStepFor(o options) time.Duration {
	return min(max(o.duration/4, 5*time.Second), 15*time.Second)
}

func runOverload(ctx context.Context, o options, pop *Population, res *Result, smp sampler, progress func(string)) error {
	if o.procs > 1 {
		return errors.New("overload runs in one process (a few hundred users): drop -procs")
	}
	r := &run{stats: newStats(), expect: map[string]int{}, received: map[string]map[int64]int{}, audience: audience(pop)}
	devs, err := dial(ctx, o.urls(), pop, 0, len(pop.Users), r, progress)
	for _, d := range devs {
		if d != nil {
			res.Connections++
			defer d.conn.Close()
		}
	}
	if err != nil {
		return err
	}
	time.Sleep(o.settle)
	smp.waitQuiet(progress)
	ov := &OverloadRun{}
	var seq atomic.Int64
	step := func(n int, dur time.Duration) OverloadStep {
		smp.sample()
		s := driveRetrying(ctx, devs, pop, n, dur, o.size, &seq)
		smp.sample()
		s.cpuPerAck(*res)
		progress(fmt.Sprintf("%d in flight: %.0f acked/s, %d refused, %d retries, P99 %.0f ms", n, s.AckedPerS, s.Refused, s.Retries, s.Ack.P99))
		return s
	}
	for n := 4; ctx.Err() == nil; n *= 2 {
		s := step(n, overloadStepFor(o))
		ov.Ramp = append(ov.Ramp, s)
		ov.SaturatedPerS = max(ov.SaturatedPerS, s.AckedPerS)
		if k := len(ov.Ramp); k > 1 && s.AckedPerS < 1.1*ov.Ramp[k-2].AckedPerS {
			ov.Saturating = ov.Ramp[k-2].InFlight
			break
		}
		if n >= 4096 {
			return errors.New("no saturation up to 4,096 sends in flight")
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	ov.Overload = step(4*ov.Saturating, o.duration)
	ov.Goodput = ov.Overload.AckedPerS / ov.SaturatedPerS
	r.drain(o.drain)
	var part Partial
	r.fill(&part)
	part.Connections = res.Connections
	mergePartials([]Partial{part}, res) // lost and duplicated deliveries, over every phase
	res.Sent, res.Acked, res.Throughput, res.Ack = seq.Load(), ov.Overload.Acked, ov.Overload.AckedPerS, ov.Overload.Ack
	res.Overload = ov
	return nil
}

// cpuPerAck reads the step's CPU from the two samples just taken.
func (s *OverloadStep) cpuPerAck(res Result) {
	per := func(p []ProcSample) float64 {
		if len(p) < 2 || s.Acked == 0 {
			return 0
		}
		return (p[len(p)-1].CPUSeconds - p[len(p)-2].CPUSeconds) * 1000 / float64(s.Acked)
	}
	s.ChatdCPUms, s.CassandraCPUms = per(res.Chatd), per(res.Cassandra)
}

// driveRetrying keeps n sends in flight for dur, sender i on user i's socket
// (modulo the users) into their direct conversation. A refused send is
// retried after its hint, with some jitter, until it is acknowledged or the
// stretch ends.
func driveRetrying(ctx context.Context, devs []*device, pop *Population, n int, dur time.Duration, size int, seq *atomic.Int64) OverloadStep {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var mu sync.Mutex
	hist := hdrhistogram.New(1, 60_000_000, 3)
	var acked, refused, retries, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range n {
		i := w % len(devs)
		d, conv := devs[i], pop.Convs[i/2]
		if d == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cmid := clientMsgID() // kept across the retries
				first := time.Now()
				for attempt := 0; ; attempt++ {
					if attempt > 0 {
						retries.Add(1)
					}
					code, hint, err := d.attempt(conv, "o"+strconv.FormatInt(seq.Add(1), 10), cmid, first, size)
					if err == nil && code == "" {
						acked.Add(1)
						mu.Lock()
						_ = hist.RecordValue(max(time.Since(first).Microseconds(), 1))
						mu.Unlock()
						break
					}
					if err != nil || hint <= 0 {
						failed.Add(1)
						break
					}
					refused.Add(1)
					// The hint plus up to a fifth more, so refused clients do not all come back at once.
					wait := time.Duration(float64(hint) * (1 + rand.Float64()/5))
					select {
					case <-ctx.Done():
					case <-time.After(wait):
					}
					if ctx.Err() != nil {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return OverloadStep{InFlight: n, Seconds: secs, Acked: acked.Load(), AckedPerS: float64(acked.Load()) / secs,
		Refused: refused.Load(), Retries: retries.Load(), Failed: failed.Load(), Ack: summarize(hist)}
}

// attempt sends one message.send frame and waits for its answer: code ""
// for an ack, else the error's code and retry hint. first is the message's
// first attempt (the readers time send→delivered from the body).
func (d *device) attempt(conv int64, ref, cmid string, first time.Time, size int) (code string, hint time.Duration, err error) {
	s := &inflight{at: first.UnixNano(), conv: conv, done: make(chan struct{})}
	d.r.pending.Store(ref, s)
	d.wmu.Lock()
	_ = d.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err = d.conn.WriteJSON(map[string]any{"type": "message.send", "ref": ref, "data": map[string]any{
		"conversation_id": strconv.FormatInt(conv, 10), "client_msg_id": cmid, "body": paddedBody(first.UnixNano(), size)}})
	d.wmu.Unlock()
	if err != nil {
		d.r.pending.Delete(ref)
		return "", 0, err
	}
	select {
	case <-s.done:
		return s.code, time.Duration(s.retryAfterMs) * time.Millisecond, nil
	case <-time.After(30 * time.Second):
		d.r.pending.Delete(ref)
		return "", 0, errors.New("never answered")
	}
}

func (ov *OverloadRun) markdown(b *strings.Builder, r Result) {
	fmt.Fprintf(b, "Saturation at **%d sends in flight**, %.0f acked/s; at %d in flight (4 ×): **%.0f acked/s, %.0f %% of saturated**; %d lost, %d duplicated, %d unanswered\n\n",
		ov.Saturating, ov.SaturatedPerS, ov.Overload.InFlight, ov.Overload.AckedPerS, 100*ov.Goodput, r.Lost, r.Duplicates, r.Unanswered)
	fmt.Fprintf(b, "| step | in flight | acked/s | refused | retries | failed | P50 ack (ms) | P99 ack (ms) | chatd CPU ms/ack | Cassandra CPU ms/ack |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for i, s := range append(ov.Ramp, ov.Overload) {
		name := "ramp"
		if i == len(ov.Ramp) {
			name = "**overload**"
		}
		fmt.Fprintf(b, "| %s | %d | %.0f | %d | %d | %d | %.1f | %.1f | %.2f | %.2f |\n", name, s.InFlight, s.AckedPerS, s.Refused, s.Retries, s.Failed,
			s.Ack.P50, s.Ack.P99, s.ChatdCPUms, s.CassandraCPUms)
	}
	b.WriteString("\n")
}
