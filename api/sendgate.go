package api

import (
	"errors"
	"sync"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// sendGate bounds how many sends one node has in flight, and adapts the bound
// to what the ring answers (additive increase, multiplicative decrease, as TCP
// does with its window). Without it an overloaded ring queues every send
// until most overrun SendDeadline: the work is done and thrown away, and
// acknowledged throughput collapses far below what the ring could carry. With
// it a send over the bound is refused at once (503 / error frame, retry with
// the same client_msg_id) before it costs Cassandra anything.
//
// Each node adapts on its own: every node sees the shared ring's latency, so
// together they settle near what the ring carries without talking to each other.
type sendGate struct {
	mu       sync.Mutex
	limit    float64       // current bound
	min, max float64       // the bound stays within these
	target   time.Duration // a send slower than this means the ring is queueing
	inFlight int
	cut      time.Time // last decrease: at most one per target, like once per round trip
	shed     int64
}

// errShed marks a send refused by the gate: counted by a metric, not logged
// one by one (under overload there are thousands a second).
var errShed = errors.New("send shed at the node's bound")

// newSendGate returns a gate whose bound adapts between 4 and ceiling,
// starting at a quarter of it; ceiling <= 0 disables it (every send passes).
func newSendGate(ceiling int, target time.Duration) *sendGate {
	if ceiling <= 0 {
		return nil
	}
	c := float64(ceiling)
	return &sendGate{limit: max(c/4, min(4, c)), min: min(4, c), max: c, target: target}
}

// enter admits a send or refuses it; an admitted send must call the returned
// leave with how long it took and whether the ring failed it.
func (g *sendGate) enter(now time.Time) (leave func(took time.Duration, overloaded bool), err error) {
	if g == nil {
		return func(time.Duration, bool) {}, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if float64(g.inFlight) >= g.limit {
		g.shed++
		return nil, &repo.Error{Code: repo.CodeUnavailable, Message: "this server is at its send capacity; retry with the same client_msg_id", Cause: errShed}
	}
	g.inFlight++
	return func(took time.Duration, overloaded bool) { g.leave(now.Add(took), took, overloaded) }, nil
}

func (g *sendGate) leave(at time.Time, took time.Duration, overloaded bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if overloaded || took > g.target {
		if at.Sub(g.cut) >= g.target {
			g.limit = max(g.min, g.limit*0.8)
			g.cut = at
		}
		return
	}
	// About one more slot per bound's worth of timely sends.
	g.limit = min(g.max, g.limit+1/g.limit)
}

// state reports the current bound, sends in flight and sends refused so far.
func (g *sendGate) state() (limit float64, inFlight int, shed int64) {
	if g == nil {
		return 0, 0, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit, g.inFlight, g.shed
}
