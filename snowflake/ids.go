// Package snowflake makes ringchat's 64-bit ids and leases the node id each
// process stamps into them.
//
// Layout: 41 bits of milliseconds since Epoch,
// 10 bits of node id (0-1023), 12 bits of per-millisecond sequence.
package snowflake

import "time"

// Epoch is 2024-01-01T00:00:00Z in Unix milliseconds; ids start there.
const Epoch int64 = 1704067200000

const (
	nodeBits  = 10
	stepBits  = 12
	timeShift = nodeBits + stepBits
	// MaxNodeID is the largest node id a lease can hand out.
	MaxNodeID = 1<<nodeBits - 1
)

// Time returns the moment an id was made (millisecond precision).
func Time(id int64) time.Time {
	return time.UnixMilli((id >> timeShift) + Epoch).UTC()
}

// MinIDAt is the smallest id any node could make at t: ids made at or after t are >= it.
func MinIDAt(t time.Time) int64 {
	ms := t.UnixMilli() - Epoch
	if ms < 0 {
		return 0
	}
	return ms << timeShift
}

// Bucket is the time window an id falls in, for windows of bucketMs
// milliseconds counted from Epoch: (id >> 22) / bucketMs. Counting from
// Epoch rather than 1970 keeps buckets in a CQL int for decades, even for the
// sub-second buckets tests use.
func Bucket(id int64, bucketMs int64) int32 {
	return int32((id >> timeShift) / bucketMs)
}

// BucketStart is the smallest id of bucket b.
func BucketStart(b int32, bucketMs int64) int64 {
	return (int64(b) * bucketMs) << timeShift
}

// Compose is the id whose time is unixMs (milliseconds since the Unix epoch,
// not before Epoch) and whose low 22 bits (node and sequence) are low.
// Generators never make such ids; api derives message ids from client ids
// with it (docs/sync.md).
func Compose(unixMs, low int64) int64 {
	return (unixMs-Epoch)<<timeShift | low&(1<<timeShift-1)
}
