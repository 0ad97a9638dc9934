package chat

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

var bg = context.Background()

func TestSendGateBoundsSendsInFlight(t *testing.T) {
	g := newSendGate(16, 0, time.Second) // starts at a quarter: 4; no queue
	now := time.Unix(1000, 0)
	leaves := fill(t, g, now, 4)
	if !g.full() {
		t.Fatal("a gate at its bound with no queue is not full")
	}
	if _, err := g.enter(bg, now, time.Second); !repo.IsCode(err, repo.CodeUnavailable) {
		t.Fatalf("a fifth send at a bound of 4 and no queue: %v, want unavailable", err)
	}
	leaves[0](10*time.Millisecond, false)
	if _, err := g.enter(bg, now, time.Second); err != nil {
		t.Fatalf("a slot freed by a finished send was not reused: %v", err)
	}
	if s := g.state(); s.inFlight != 4 || s.shed != 2 || s.limit <= 4 {
		t.Fatalf("state %+v; want limit >4, 4 in flight, 2 shed (full() counts its refusal)", s)
	}
}

// fill admits n sends at once and returns their leaves.
func fill(t *testing.T, g *sendGate, now time.Time, n int) []func(time.Duration, bool) {
	t.Helper()
	var leaves []func(time.Duration, bool)
	for i := 0; i < n; i++ {
		leave, err := g.enter(bg, now, time.Second)
		if err != nil {
			t.Fatalf("send %d refused under the bound: %v", i, err)
		}
		leaves = append(leaves, leave)
	}
	return leaves
}

// waitEnter runs enter on its own goroutine and returns its outcome.
func waitEnter(g *sendGate, ctx context.Context, now time.Time, budget time.Duration) chan error {
	out := make(chan error, 1)
	go func() {
		leave, err := g.enter(ctx, now, budget)
		if err == nil {
			leave(time.Millisecond, false)
		}
		out <- err
	}()
	return out
}

// waitFor polls the gate until cond holds.
func waitFor(t *testing.T, g *sendGate, what string, cond func(gateState) bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(g.state()); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %+v", what, g.state())
		}
	}
}

// Over the bound a send waits its turn (oldest first) instead of being
// refused; only a full queue refuses at once.
func TestSendGateQueuesOverTheBound(t *testing.T) {
	g := newSendGate(16, 2, time.Second)
	now := time.Unix(1000, 0)
	leaves := fill(t, g, now, 4)
	first := make(chan func(time.Duration, bool), 1)
	go func() {
		leave, err := g.enter(bg, now, time.Minute)
		if err != nil {
			t.Error(err)
		}
		first <- leave
	}()
	waitFor(t, g, "the first waiter", func(s gateState) bool { return s.queue == 1 })
	second := waitEnter(g, bg, now, time.Minute)
	waitFor(t, g, "the second waiter", func(s gateState) bool { return s.queue == 2 })
	if !g.full() {
		t.Fatal("bound reached and queue full, but full() is false")
	}
	if _, err := g.enter(bg, now, time.Minute); !repo.IsCode(err, repo.CodeUnavailable) {
		t.Fatalf("a send past a full queue: %v, want unavailable at once", err)
	}
	// One slot (a slow send, so the bound stays at its floor of 4): the
	// oldest waiter gets it.
	leaves[0](2*time.Second, false)
	leave := <-first
	select {
	case err := <-second:
		t.Fatalf("the newer waiter went first (%v)", err)
	default:
	}
	leave(time.Millisecond, false)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves[1:] {
		l(time.Millisecond, false)
	}
	if s := g.state(); s.inFlight != 0 || s.queue != 0 || s.queued != 2 || s.shed != 2 {
		t.Fatalf("state %+v; want nothing in flight or waiting, 2 queued, 2 shed", s)
	}
}

// A wait is bounded by its budget, and a client that leaves takes its send
// out of the queue; neither leaks a slot.
func TestSendGateWaitEnds(t *testing.T) {
	g := newSendGate(4, 8, time.Second)
	now := time.Unix(1000, 0)
	leaves := fill(t, g, now, 4)
	began := time.Now()
	if _, err := g.enter(bg, now, 30*time.Millisecond); !repo.IsCode(err, repo.CodeUnavailable) {
		t.Fatalf("a wait past its budget: %v, want unavailable", err)
	}
	if waited := time.Since(began); waited < 30*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("waited %v on a 30 ms budget", waited)
	}
	if _, err := g.enter(bg, now, 0); !repo.IsCode(err, repo.CodeUnavailable) {
		t.Fatalf("no budget left: %v, want unavailable at once", err)
	}
	ctx, cancel := context.WithCancel(bg)
	gone := waitEnter(g, ctx, now, time.Minute)
	waitFor(t, g, "the waiter", func(s gateState) bool { return s.queue == 1 })
	cancel()
	if err := <-gone; !repo.IsCode(err, repo.CodeUnavailable) {
		t.Fatalf("a send whose client left: %v, want unavailable", err)
	}
	if s := g.state(); s.queue != 0 || s.inFlight != 4 || s.shed != 2 {
		t.Fatalf("state %+v; want an empty queue, 4 in flight, 2 shed (the client that left is not shed)", s)
	}
	for _, l := range leaves {
		l(time.Millisecond, false)
	}
	if _, err := g.enter(bg, now, time.Second); err != nil || g.state().inFlight != 1 {
		t.Fatalf("after the wait ended the slots were not all free: %v %+v", err, g.state())
	}
}

// Slots free at about the bound per send time: a send that would wait past
// its budget is refused on arrival, not after holding a queue place.
func TestSendGateRefusesAPredictedOverrun(t *testing.T) {
	g := newSendGate(4, 100, 10*time.Second)
	now := time.Unix(1000, 0)
	for i := 0; i < 40; i++ { // sends take 1 s
		leave, _ := g.enter(bg, now, time.Second)
		leave(time.Second, false)
	}
	fill(t, g, now, 4)
	// 4 slots, ~1 s a send: the first waiter waits ~250 ms, the 8th ~2 s.
	for i := 0; i < 7; i++ {
		waitEnter(g, bg, now, time.Minute)
	}
	waitFor(t, g, "7 waiters", func(s gateState) bool { return s.queue == 7 })
	began := time.Now()
	if _, err := g.enter(bg, now, time.Second); !repo.IsCode(err, repo.CodeUnavailable) {
		t.Fatalf("a send predicted to wait ~2 s on a 1 s budget: %v, want unavailable", err)
	}
	if waited := time.Since(began); waited > 500*time.Millisecond {
		t.Fatalf("the predicted overrun was refused after %v, not on arrival", waited)
	}
}

func TestSendGateAdapts(t *testing.T) {
	g := newSendGate(64, 0, time.Second)
	now := time.Unix(1000, 0)
	pass := func(took time.Duration, overloaded bool) {
		leave, err := g.enter(bg, now, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		leave(took, overloaded)
	}
	start := g.state().limit
	for i := 0; i < 3000; i++ {
		pass(5*time.Millisecond, false)
	}
	if limit := g.state().limit; limit != 64 {
		t.Fatalf("timely sends grew the bound from %.1f to %.1f; want the ceiling 64", start, limit)
	}
	// Many slow sends within one target interval cut the bound once, like a
	// congestion window once per round trip, not once per send.
	for i := 0; i < 50; i++ {
		pass(2*time.Second, false)
	}
	if limit := g.state().limit; limit < 50 || limit > 52 {
		t.Fatalf("one interval of slow sends left the bound at %.1f; want one cut to 51.2", limit)
	}
	for i := 0; i < 100; i++ {
		now = now.Add(time.Second)
		pass(0, true) // the ring failed it
	}
	if limit := g.state().limit; limit != 4 {
		t.Fatalf("a failing ring left the bound at %.1f; want the floor 4", limit)
	}
	if off := newSendGate(0, 10, time.Second); off != nil {
		t.Fatal("a ceiling of 0 must disable the gate")
	} else if leave, err := off.enter(bg, now, time.Second); err != nil || leave == nil || off.full() {
		t.Fatalf("a disabled gate refused: %v", err)
	}
}

// Cassandra slows down, then recovers: the bound falls to its floor while
// sends are slow, sends over it wait rather than fail, and once sends are
// timely again the bound climbs back to the ceiling by itself, admitting the
// waiters as it grows. Simulated time: a send's latency is what leave is told.
func TestSendGateRecoversAfterCassandraSlows(t *testing.T) {
	const ceiling = 64
	g := newSendGate(ceiling, 1000, time.Second)
	now := time.Unix(1000, 0)
	// Drive the gate directly: healthy, slow, healthy.
	drive := func(rounds int, took time.Duration) {
		for r := 0; r < rounds; r++ {
			limit := int(g.state().limit)
			var leaves []func(time.Duration, bool)
			for i := 0; i < limit; i++ {
				leave, err := g.enter(bg, now, time.Minute)
				if err != nil {
					t.Fatalf("send %d under a bound of %d refused: %v", i, limit, err)
				}
				leaves = append(leaves, leave)
			}
			// More is offered than the bound: these wait (or take what is
			// left of a fractional bound), and take as long once admitted.
			waiters := make([]chan error, 8)
			var admitted atomic.Int64
			release := make(chan struct{})
			for i := range waiters {
				waiters[i] = make(chan error, 1)
				go func() {
					leave, err := g.enter(bg, now, time.Minute)
					if err == nil {
						admitted.Add(1)
						<-release
						leave(took, false)
					}
					waiters[i] <- err
				}()
			}
			waitFor(t, g, "8 more sends", func(s gateState) bool { return int(admitted.Load())+s.queue == 8 })
			close(release)
			for _, l := range leaves {
				l(took, false)
			}
			for _, w := range waiters {
				if err := <-w; err != nil {
					t.Fatalf("a waiter was refused while the ring was %v per send: %v", took, err)
				}
			}
			now = now.Add(took)
		}
	}
	drive(200, 20*time.Millisecond)
	if l := g.state().limit; l != ceiling {
		t.Fatalf("a healthy ring left the bound at %.1f; want the ceiling %d", l, ceiling)
	}
	drive(30, 3*time.Second) // Cassandra slows: every send over the target
	if l := g.state().limit; l != 4 {
		t.Fatalf("a slow ring left the bound at %.1f; want the floor 4", l)
	}
	drive(400, 20*time.Millisecond) // and recovers, with nobody resetting the gate
	if l := g.state().limit; l != ceiling {
		t.Fatalf("after the ring recovered the bound is %.1f; want it back at the ceiling %d", l, ceiling)
	}
	if s := g.state(); s.inFlight != 0 || s.queue != 0 || s.shed != 0 {
		t.Fatalf("state %+v; want nothing left in flight or waiting and nothing shed", s)
	}
}

// Many sends entering, leaving, timing out and leaving the queue at once:
// the bound is never exceeded and no slot or queue place leaks.
func TestSendGateConcurrent(t *testing.T) {
	g := newSendGate(8, 16, time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				ctx, cancel := context.WithCancel(bg)
				if rand.IntN(4) == 0 {
					time.AfterFunc(time.Duration(rand.IntN(2000))*time.Microsecond, cancel)
				}
				leave, err := g.enter(ctx, time.Now(), time.Duration(rand.IntN(5))*time.Millisecond)
				if err == nil {
					if s := g.state(); s.inFlight > 8 {
						t.Errorf("%d in flight over the ceiling of 8", s.inFlight)
					}
					time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
					leave(time.Millisecond, rand.IntN(10) == 0)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if s := g.state(); s.inFlight != 0 || s.queue != 0 {
		t.Fatalf("state %+v after every send ended; want nothing in flight or waiting", s)
	}
}
