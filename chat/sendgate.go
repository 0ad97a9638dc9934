package chat

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// sendGate bounds how many sends one node has in flight, and adapts the bound
// to what the ring answers (additive increase, multiplicative decrease, as TCP
// does with its window). Without it an overloaded ring queues every send
// until most overrun SendDeadline: the work is done and thrown away, and
// acknowledged throughput collapses far below what the ring could carry.
//
// A send over the bound waits in a bounded FIFO queue for a slot instead of
// being refused: a refused client comes back, and under overload the
// refusals and their retries cost more than the waiting does (issue 13). It
// is refused (unavailable, with a retry hint) only when the queue is full or
// its wait would overrun what it may wait (waitBudget), so an admitted send
// still has its whole SendDeadline. FIFO, not LIFO: the wait is bounded and
// a wait predicted to overrun is refused on arrival, so FIFO's failure (every
// send served just before its deadline) cannot build up, and sends keep the
// order a client sent them in.
//
// Each node adapts on its own: every node sees the shared ring's latency, so
// together they settle near what the ring carries without talking to each other.
type sendGate struct {
	mu       sync.Mutex
	limit    float64       // current bound
	min, max float64       // the bound stays within these
	target   time.Duration // a send slower than this means the ring is queueing
	inFlight int
	cut      time.Time     // last decrease: at most one per target, like once per round trip
	queueMax int           // most sends waiting
	waiting  list.List     // *sendWaiter, oldest first
	service  time.Duration // moving average of an admitted send's time, to predict waits
	shed     int64         // refused: queue full or the wait would overrun
	queued   int64         // sends that waited for a slot
}

// sendWaiter is a send in the queue; granted (under the gate's lock) means a
// leaving send handed it its slot at the time at.
type sendWaiter struct {
	ready   chan struct{}
	granted bool
	at      time.Time
}

// ErrShed marks a send refused by the gate: counted by a metric, not logged
// one by one (under overload there are thousands a second).
var ErrShed = errors.New("send shed at the node's bound")

func shedError() error {
	return &repo.Error{Code: repo.CodeUnavailable, Message: "this server is at its send capacity; retry with the same client_msg_id after the retry hint", Cause: ErrShed}
}

// ShedSend refuses (unavailable, with the retry hint) and counts a send the
// node would refuse now, its bound reached and its queue full, and is nil
// otherwise: an adapter asks before it reads or decodes a 4 KB body, so a
// refusal under overload costs next to nothing. Send asks again.
func (a *App) ShedSend() error {
	if a.sendGate.full() {
		return shedError()
	}
	return nil
}

// newSendGate returns a gate whose bound adapts between 4 and ceiling,
// starting at a quarter of it, with at most queue sends waiting; ceiling <= 0
// disables it (every send passes).
func newSendGate(ceiling, queue int, target time.Duration) *sendGate {
	if ceiling <= 0 {
		return nil
	}
	c := float64(ceiling)
	return &sendGate{limit: max(c/4, min(4, c)), min: min(4, c), max: c, target: target, queueMax: max(queue, 0)}
}

// full reports (and counts as shed) a send that would be refused now, the
// bound reached and the queue full: checked before a frame's body is
// decoded, so a refusal under overload costs next to nothing.
func (g *sendGate) full() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if float64(g.inFlight) >= g.limit && g.waiting.Len() >= g.queueMax {
		g.shed++
		return true
	}
	return false
}

// enter admits a send, at once or after waiting at most budget for a slot,
// or refuses it. ctx ending while it waits (the client left, the socket is
// closing for a shutdown) takes it out of the queue with nothing written. An
// admitted send must call the returned leave with how long it took from
// admission and whether the ring failed it.
func (g *sendGate) enter(ctx context.Context, now time.Time, budget time.Duration) (leave func(took time.Duration, overloaded bool), err error) {
	if g == nil {
		return func(time.Duration, bool) {}, nil
	}
	g.mu.Lock()
	if float64(g.inFlight) < g.limit && g.waiting.Len() == 0 {
		g.inFlight++
		g.mu.Unlock()
		return g.leaveFunc(now), nil
	}
	// Slots free at about limit per service time; a wait predicted past the
	// budget is refused now rather than after holding a queue place.
	predicted := time.Duration(float64(g.waiting.Len()+1) / g.limit * float64(g.service))
	if g.waiting.Len() >= g.queueMax || budget <= 0 || predicted > budget {
		g.shed++
		g.mu.Unlock()
		return nil, shedError()
	}
	w := &sendWaiter{ready: make(chan struct{})}
	el := g.waiting.PushBack(w)
	g.queued++
	g.mu.Unlock()

	timer := time.NewTimer(budget)
	defer timer.Stop()
	select {
	case <-w.ready:
	case <-ctx.Done():
	case <-timer.C:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !w.granted {
		g.waiting.Remove(el)
		if ctx.Err() != nil {
			return nil, &repo.Error{Code: repo.CodeUnavailable, Message: "the request ended while its send waited for a slot", Cause: ctx.Err()}
		}
		g.shed++
		return nil, shedError()
	}
	if ctx.Err() != nil { // granted as the client left: pass the slot on
		g.inFlight--
		g.grantLocked(w.at)
		return nil, &repo.Error{Code: repo.CodeUnavailable, Message: "the request ended while its send waited for a slot", Cause: ctx.Err()}
	}
	return g.leaveFunc(w.at), nil
}

func (g *sendGate) leaveFunc(admitted time.Time) func(time.Duration, bool) {
	return func(took time.Duration, overloaded bool) { g.leave(admitted.Add(took), took, overloaded) }
}

func (g *sendGate) leave(at time.Time, took time.Duration, overloaded bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	g.service = (7*g.service + took) / 8
	if overloaded || took > g.target {
		if at.Sub(g.cut) >= g.target {
			g.limit = max(g.min, g.limit*0.8)
			g.cut = at
		}
	} else {
		// About one more slot per bound's worth of timely sends.
		g.limit = min(g.max, g.limit+1/g.limit)
	}
	g.grantLocked(at)
}

// grantLocked hands free slots to the oldest waiters.
func (g *sendGate) grantLocked(at time.Time) {
	for float64(g.inFlight) < g.limit && g.waiting.Len() > 0 {
		w := g.waiting.Remove(g.waiting.Front()).(*sendWaiter)
		w.granted, w.at = true, at
		g.inFlight++
		close(w.ready)
	}
}

// gateState is what the gate's metrics report.
type gateState struct {
	limit           float64
	inFlight, queue int
	shed, queued    int64
}

func (g *sendGate) state() gateState {
	if g == nil {
		return gateState{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return gateState{limit: g.limit, inFlight: g.inFlight, queue: g.waiting.Len(), shed: g.shed, queued: g.queued}
}
