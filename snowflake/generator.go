package snowflake

import (
	"fmt"

	bw "github.com/bwmarrin/snowflake"
)

// Generator makes ids for one node id. Safe for concurrent use; ids are
// strictly increasing per generator.
//
// bwmarrin measures time as a monotonic duration since Epoch taken at
// NewNode, so a wall clock stepping backwards does not make it repeat or go
// back; ids then run ahead of the wall clock until it catches up. Within a
// millisecond it hands out 4,096 ids, then waits for the next millisecond.
type Generator struct {
	node *bw.Node
}

// NewGenerator returns a generator for nodeID (0..MaxNodeID).
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

// Next returns a new id.
func (g *Generator) Next() int64 {
	return g.node.Generate().Int64() // bwmarrin serialises callers with its own mutex
}
