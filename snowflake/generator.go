package snowflake

import (
	"fmt"

	bw "github.com/bwmarrin/snowflake"
)

// Generator makes ids for one node id. It is safe for concurrent use, and the
// ids one Generator returns are strictly increasing in the order Next returns
// them.
//
// Clock behaviour (bwmarrin/snowflake v0.3.0, read from its source):
// NewNode reads time.Now() once and keeps an "epoch" time.Time that carries
// Go's monotonic clock reading; every Generate computes the milliseconds as
// time.Since(that epoch), which uses the monotonic clock, not the wall clock.
// So, for the life of a Generator:
//
//   - A wall clock stepped backwards (NTP step, operator) is ignored: ids never
//     repeat or go down, and they do not stall waiting for the clock.
//   - A wall clock stepped forwards is ignored too: ids keep following the wall
//     time as it was at NewGenerator plus the elapsed monotonic time. The same
//     happens across a suspend of the machine (the monotonic clock stops).
//     Ids can then lag the wall clock (and other nodes' ids) by the size of
//     the step; whatever compares id times with now must allow for that skew.
//   - Within one millisecond it hands out 4,096 ids (12 bits of sequence), then
//     spins until the next millisecond; callers serialise on bwmarrin's mutex.
//
// What the monotonic clock cannot cover is a new process: a Generator created
// after a restart starts from the wall clock again. Two processes holding the
// same node id one after the other can repeat ids only if the second one's
// clock is behind the first one's by more than the time between the first
// one's last id and the second one's first. The lease keeps that gap at least
// TTL-RenewEvery (20 s by default) after a holder that died while renewing,
// and RenewEvery/2 after one that stopped when its lease was Lost.
type Generator struct {
	node *bw.Node
}

// NewGenerator returns a generator for nodeID (0..MaxNodeID). Two generators
// with different node ids never make the same id; two live generators with
// the same node id can, which is what the lease prevents.
func NewGenerator(nodeID int64) (*Generator, error) {
	if nodeID < 0 || nodeID > MaxNodeID {
		return nil, fmt.Errorf("snowflake node id %d out of range 0..%d", nodeID, MaxNodeID)
	}
	n, err := bw.NewNode(nodeID)
	if err != nil {
		return nil, fmt.Errorf("snowflake node %d: %w", nodeID, err)
	}
	return &Generator{node: n}, nil
}

// Next returns a new id, greater than every id this generator returned before.
func (g *Generator) Next() int64 {
	return g.node.Generate().Int64()
}
