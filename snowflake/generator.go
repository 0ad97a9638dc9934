package snowflake

import (
	"fmt"
	"sync"
	"time"
)

// Generator makes ids for one node id. It is safe for concurrent use, and the
// ids one Generator returns are strictly increasing in the order it returns
// them.
//
// Clock behaviour: each id takes the wall clock's millisecond, or the last
// id's if that is later.
//
//   - A wall clock stepped forwards is followed at once. (Ids used to follow
//     the monotonic clock from the moment the generator was made, so after a
//     forward step of more than the send deadline every id looked too old to
//     the send path, and every send answered 503 until a restart.)
//   - A wall clock stepped backwards is not: ids keep the last millisecond
//     (the sequence moves on, then the millisecond), so they never repeat or
//     go down and never stall, and run ahead of the wall until it catches up.
//   - Within one millisecond it hands out 4,096 ids (12 bits of sequence);
//     past that it borrows the next millisecond rather than spin.
//
// What one Generator cannot cover is a new process: a Generator created
// after a restart starts from the wall clock again. Two processes holding the
// same node id one after the other can repeat ids only if the second one's
// clock is behind the first one's by more than the time between the first
// one's last id and the second one's first. The lease keeps that gap at least
// TTL-RenewEvery (20 s by default) after a holder that died while renewing,
// and RenewEvery/2 after one whose lease could no longer be trusted (a
// leased Generator refuses to make ids from that moment on).
type Generator struct {
	nodeID int64
	clock  func() time.Time
	lease  *Lease // nil: not fenced by a lease (tools, benchmarks)

	mu     sync.Mutex
	lastMs int64 // milliseconds since Epoch of the last id
	seq    int64
}

// NewGenerator returns a generator for nodeID (0..MaxNodeID). Two generators
// with different node ids never make the same id; two live generators with
// the same node id can, which is what the lease prevents: a server should use
// NewLeasedGenerator.
func NewGenerator(nodeID int64) (*Generator, error) {
	if nodeID < 0 || nodeID > MaxNodeID {
		return nil, fmt.Errorf("snowflake node id %d out of range 0..%d", nodeID, MaxNodeID)
	}
	return &Generator{nodeID: nodeID, clock: time.Now, lastMs: -1}, nil
}

// NewLeasedGenerator returns a generator for the lease's node id that makes
// ids only while the lease can be trusted (see Lease.Valid).
func NewLeasedGenerator(l *Lease) (*Generator, error) {
	g, err := NewGenerator(l.NodeID())
	if err != nil {
		return nil, err
	}
	g.lease = l
	return g, nil
}

const seqMask = 1<<stepBits - 1

// TryNext returns a new id, greater than every id this generator returned
// before, or an error wrapping ErrLeaseLost once its lease cannot be trusted,
// or ErrClockBeforeEpoch while the wall clock reads earlier than Epoch.
func (g *Generator) TryNext() (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// Under the lock: no id is handed out after the moment the check fails.
	if g.lease != nil {
		if err := g.lease.Valid(); err != nil {
			return 0, err
		}
	}
	ms := g.clock().UnixMilli() - Epoch
	if ms < 0 {
		// An unsynced clock: an id from it would be negative (or, after
		// earlier ids, borrow milliseconds for years).
		return 0, fmt.Errorf("%w: clock reads %s", ErrClockBeforeEpoch, g.clock().UTC().Format(time.RFC3339))
	}
	switch {
	case ms > g.lastMs:
		g.lastMs, g.seq = ms, 0
	case g.seq < seqMask:
		g.seq++
	default:
		g.lastMs, g.seq = g.lastMs+1, 0
	}
	return g.lastMs<<timeShift | g.nodeID<<stepBits | g.seq, nil
}

// Next is TryNext for generators without a lease. A leased generator whose
// lease is gone panics with the error rather than make an id that another
// process may make too; callers that can see that should use TryNext.
func (g *Generator) Next() int64 {
	id, err := g.TryNext()
	if err != nil {
		panic(err)
	}
	return id
}
