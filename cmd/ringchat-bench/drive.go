package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// target picks who sends next and where: with probability groupShare a
// random local member into a random group, otherwise a random local user
// into their DM. Local: the users [lo, hi) this process holds sockets for.
type target struct {
	devs       []*device
	pop        *Population
	lo, hi     int
	groupShare float64
	local      [][]int // per group, its members in [lo, hi)
	groups     []int   // the groups with members in [lo, hi)
}

func newTarget(devs []*device, p *Population, lo, hi int, groupShare float64) target {
	t := target{devs: devs, pop: p, lo: lo, hi: hi, groupShare: groupShare, local: make([][]int, len(p.Groups))}
	for g, grp := range p.Groups {
		for _, m := range grp.Members {
			if m >= lo && m < hi {
				t.local[g] = append(t.local[g], m)
			}
		}
		if len(t.local[g]) > 0 {
			t.groups = append(t.groups, g)
		}
	}
	return t
}

func (t target) pick() (*device, int64) {
	if len(t.groups) > 0 && rand.Float64() < t.groupShare {
		g := t.groups[rand.IntN(len(t.groups))]
		m := t.local[g]
		return t.devs[m[rand.IntN(len(m))]], t.pop.Groups[g].ID
	}
	i := t.lo + rand.IntN(t.hi-t.lo)
	return t.devs[i], t.pop.Convs[i/2]
}

// phase is a stretch of the run at one send rate.
type phase struct {
	rate float64
	dur  time.Duration
}

// driveOpen sends at each phase's rate whatever chatd's answers: the way a
// population of independent users loads a server.
func driveOpen(ctx context.Context, t target, phases []phase, size int, errs *atomic.Int64, progress func(string)) int64 {
	var seq int64
	lastReport := time.Now()
	for _, ph := range phases {
		interval := time.Duration(float64(time.Second) / ph.rate)
		start, end := time.Now(), time.Now().Add(ph.dur)
		var sentHere int64
		for now := time.Now(); now.Before(end); now = time.Now() {
			// Catch up on a schedule rather than sleeping per message: a
			// timer cannot tick every 60 µs, and a late tick must not lower the rate.
			due := int64(now.Sub(start)/interval) + 1
			for ; sentHere < due; sentHere++ {
				d, conv := t.pick()
				if d == nil {
					continue
				}
				seq++
				if _, err := d.send(conv, seq, size); err != nil {
					errs.Add(1)
				}
			}
			if time.Since(lastReport) > 5*time.Second {
				progress(fmt.Sprintf("sent %d messages (phase at %.0f/s)", seq, ph.rate))
				lastReport = time.Now()
			}
			select {
			case <-ctx.Done():
				return seq
			case <-time.After(time.Millisecond):
			}
		}
	}
	return seq
}

// driveClosed keeps workers messages in flight for dur, each sent as soon as
// the previous one is answered: what chatd sustains at its limit.
func driveClosed(ctx context.Context, t target, workers int, dur time.Duration, size int, errs *atomic.Int64, progress func(string)) int64 {
	var seq atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				d, conv := t.pick()
				if d == nil {
					continue
				}
				done, err := d.send(conv, seq.Add(1), size)
				if err != nil {
					errs.Add(1)
					continue
				}
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					errs.Add(1) // never answered: counted, and the worker moves on
				}
			}
		}()
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return seq.Load()
		case <-tick.C:
			progress(fmt.Sprintf("sent %d messages, %d in flight", seq.Load(), workers))
		}
	}
}

// repeat runs step over and over on n goroutines until ctx ends, and waits
// for them.
func repeat(ctx context.Context, n int, step func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				step()
			}
		}()
	}
	wg.Wait()
}
