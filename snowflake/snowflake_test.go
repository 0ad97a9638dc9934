package snowflake_test

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/snowflake"
)

const (
	nodeShift = 12
	timeShift = 22
	seqMask   = 1<<12 - 1
)

func nodeOf(id int64) int64 { return (id >> nodeShift) & snowflake.MaxNodeID }

var epoch = time.UnixMilli(snowflake.Epoch).UTC()

func TestTimeAndMinIDAt(t *testing.T) {
	if !epoch.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Epoch is %s, want 2024-01-01T00:00:00Z", epoch)
	}
	cases := []struct {
		name string
		at   time.Time
		want int64
	}{
		{"the epoch", epoch, 0},
		{"one ms after the epoch", epoch.Add(time.Millisecond), 1 << timeShift},
		{"sub-millisecond part is dropped", epoch.Add(5*time.Millisecond + 999_999*time.Nanosecond), 5 << timeShift},
		{"one ns before the epoch", epoch.Add(-time.Nanosecond), 0},
		{"long before the epoch", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"a day", epoch.Add(24 * time.Hour), 86_400_000 << timeShift},
		{"another time zone", time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)), 0},
		{"last millisecond of 41 bits", epoch.Add((1<<41 - 1) * time.Millisecond), (1<<41 - 1) << timeShift},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := snowflake.MinIDAt(c.at)
			if got != c.want {
				t.Fatalf("MinIDAt(%s) = %d, want %d", c.at, got, c.want)
			}
			back := snowflake.Time(got)
			if back.Location() != time.UTC {
				t.Fatalf("Time returned %s, want UTC", back.Location())
			}
			if c.at.Before(epoch) {
				if !back.Equal(epoch) {
					t.Fatalf("Time(0) = %s, want the epoch", back)
				}
				return
			}
			if !back.Equal(c.at.Truncate(time.Millisecond)) {
				t.Fatalf("Time(MinIDAt(%s)) = %s", c.at, back)
			}
			// Node and sequence bits never leak into the time.
			full := got | snowflake.MaxNodeID<<nodeShift | seqMask
			if !snowflake.Time(full).Equal(back) {
				t.Fatalf("Time(%d) = %s, want %s", full, snowflake.Time(full), back)
			}
		})
	}
	if got := snowflake.Time(math.MaxInt64); !got.Equal(epoch.Add((1<<41 - 1) * time.Millisecond)) {
		t.Fatalf("Time(MaxInt64) = %s", got)
	}
	// Every id made at a millisecond sorts below every id of the next one.
	at := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	lastOfMs := snowflake.MinIDAt(at) | snowflake.MaxNodeID<<nodeShift | seqMask
	if next := snowflake.MinIDAt(at.Add(time.Millisecond)); lastOfMs+1 != next {
		t.Fatalf("last id of %s is %d, first of the next ms is %d: want adjacent", at, lastOfMs, next)
	}
}

func TestBucketBoundaries(t *testing.T) {
	for _, ms := range []int64{1, 100, 1_000, 60_000, 3_600_000, 86_400_000} {
		for _, b := range []int32{0, 1, 2, 999, 1_000_000} {
			if int64(b+1)*ms >= 1<<41 {
				continue // past the 41-bit time field (year 2093): no id lives there
			}
			start := snowflake.BucketStart(b, ms)
			if start != int64(b)*ms<<timeShift {
				t.Fatalf("BucketStart(%d, %d) = %d", b, ms, start)
			}
			if !snowflake.Time(start).Equal(epoch.Add(time.Duration(int64(b)*ms) * time.Millisecond)) {
				t.Fatalf("bucket %d of %d ms starts at %s", b, ms, snowflake.Time(start))
			}
			end := snowflake.BucketStart(b+1, ms) - 1 // the largest id of bucket b
			if got := snowflake.Bucket(start, ms); got != b {
				t.Fatalf("Bucket(BucketStart(%d, %d)) = %d", b, ms, got)
			}
			if got := snowflake.Bucket(end, ms); got != b {
				t.Fatalf("Bucket(last id of bucket %d, %d ms) = %d", b, ms, got)
			}
			if nodeOf(end) != snowflake.MaxNodeID || end&seqMask != seqMask {
				t.Fatalf("last id of bucket %d is %d: want node %d, sequence %d", b, end, snowflake.MaxNodeID, seqMask)
			}
			if !snowflake.Time(end).Equal(snowflake.Time(start).Add(time.Duration(ms-1) * time.Millisecond)) {
				t.Fatalf("last id of bucket %d (%d ms) made at %s", b, ms, snowflake.Time(end))
			}
			if b > 0 {
				if got := snowflake.Bucket(start-1, ms); got != b-1 {
					t.Fatalf("Bucket(BucketStart(%d, %d)-1) = %d, want %d", b, ms, got, b-1)
				}
			}
		}
	}
	// Bucket of an id agrees with counting windows from the epoch.
	at := time.Date(2026, 11, 22, 23, 59, 59, 999e6, time.UTC) // the last ms of a second, an hour and a day
	for _, ms := range []int64{1_000, 3_600_000, 86_400_000} {
		want := int32(at.Sub(epoch).Milliseconds() / ms)
		id := snowflake.MinIDAt(at) + 17<<nodeShift + 5
		if got := snowflake.Bucket(id, ms); got != want {
			t.Fatalf("Bucket(id at %s, %d ms) = %d, want %d", at, ms, got, want)
		}
		if got := snowflake.Bucket(snowflake.MinIDAt(at.Add(time.Millisecond)), ms); got != want+1 {
			t.Fatalf("one ms later (a window edge for %d ms) is bucket %d, want %d", ms, got, want+1)
		}
	}
	// An id made now lies inside its bucket.
	g, err := snowflake.NewGenerator(3)
	if err != nil {
		t.Fatal(err)
	}
	id := g.Next()
	b := snowflake.Bucket(id, 1_000)
	if id < snowflake.BucketStart(b, 1_000) || id >= snowflake.BucketStart(b+1, 1_000) {
		t.Fatalf("id %d outside its bucket %d", id, b)
	}
}

func TestNewGeneratorNodeRange(t *testing.T) {
	for _, bad := range []int64{-1, snowflake.MaxNodeID + 1, math.MaxInt64} {
		if _, err := snowflake.NewGenerator(bad); err == nil {
			t.Fatalf("node id %d accepted", bad)
		}
	}
	for _, node := range []int64{0, 1, snowflake.MaxNodeID} {
		g, err := snowflake.NewGenerator(node)
		if err != nil {
			t.Fatalf("node id %d: %v", node, err)
		}
		if id := g.Next(); nodeOf(id) != node || id <= 0 {
			t.Fatalf("node %d made id %d (node bits %d)", node, id, nodeOf(id))
		}
	}
}

// generate runs workers goroutines that each take each ids from g.
func generate(g *snowflake.Generator, workers, each int) [][]int64 {
	out := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]int64, each)
			for i := range ids {
				ids[i] = g.Next()
			}
			out[w] = ids
		}()
	}
	wg.Wait()
	return out
}

func TestGeneratorUniqueAndIncreasing(t *testing.T) {
	g, err := snowflake.NewGenerator(7)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 20_000
	before := time.Now()
	out := generate(g, workers, each)
	after := time.Now()
	seen := make(map[int64]bool, workers*each)
	for w, ids := range out {
		for i, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %d", id)
			}
			seen[id] = true
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("goroutine %d: id %d after %d, want strictly increasing", w, id, ids[i-1])
			}
			if nodeOf(id) != 7 {
				t.Fatalf("id %d carries node %d, want 7", id, nodeOf(id))
			}
		}
	}
	// The time in the ids is the time they were made (to the ms, plus slack
	// for the difference between the wall and monotonic clocks).
	first, last := snowflake.Time(out[0][0]), snowflake.Time(out[0][each-1])
	if first.Before(before.Add(-time.Second)) || last.After(after.Add(time.Second)) {
		t.Fatalf("ids made between %s and %s carry times %s..%s", before, after, first, last)
	}
	// One generator's ids increase in the order Next returns them, across goroutines too.
	var mu sync.Mutex
	var prev int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2_000 {
				mu.Lock()
				id := g.Next()
				if id <= prev {
					mu.Unlock()
					t.Errorf("id %d after %d", id, prev)
					return
				}
				prev = id
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestGeneratorsWithDifferentNodesNeverCollide(t *testing.T) {
	nodes := []int64{0, 1, 2, 511, snowflake.MaxNodeID - 1, snowflake.MaxNodeID}
	const perNode, each = 2, 10_000
	results := make([][][]int64, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		g, err := snowflake.NewGenerator(node)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = generate(g, perNode, each) }()
	}
	wg.Wait()
	seen := make(map[int64]int64, len(nodes)*perNode*each)
	sameMs := 0
	for i, perWorker := range results {
		for _, ids := range perWorker {
			for _, id := range ids {
				if other, dup := seen[id]; dup {
					t.Fatalf("id %d made by node %d and node %d", id, other, nodes[i])
				}
				seen[id] = nodes[i]
				if nodeOf(id) != nodes[i] {
					t.Fatalf("node %d made id %d with node bits %d", nodes[i], id, nodeOf(id))
				}
				// Count ids whose (ms, sequence) another node also used: the
				// node bits alone keep those apart.
				for _, n := range nodes {
					if n != nodes[i] {
						if _, ok := seen[id&^(snowflake.MaxNodeID<<nodeShift)|n<<nodeShift]; ok {
							sameMs++
						}
					}
				}
			}
		}
	}
	t.Logf("%d ids, %d of them share a millisecond and sequence with another node's id", len(seen), sameMs)
}

// steppedClock is a wall clock a test steps by hand.
type steppedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *steppedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *steppedClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A wall clock stepped forwards is followed at once (ids that lagged it by
// the step looked older than the send deadline: every send answered 503
// until a restart); one stepped backwards is not, and ids never repeat or go
// down; past 4,096 ids in a millisecond the next millisecond is borrowed.
func TestGeneratorFollowsForwardClockStepsOnly(t *testing.T) {
	clock := &steppedClock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	g, err := snowflake.NewGenerator(9)
	if err != nil {
		t.Fatal(err)
	}
	g = snowflake.WithClock(g, clock.Now)
	first := g.Next()
	if got := snowflake.Time(first); !got.Equal(clock.Now()) {
		t.Fatalf("first id at %s, clock at %s", got, clock.Now())
	}
	clock.Step(time.Hour)
	afterForward := g.Next()
	if got := snowflake.Time(afterForward); !got.Equal(clock.Now()) {
		t.Fatalf("after a forward step of 1h the id says %s, the clock %s", got, clock.Now())
	}
	clock.Step(-2 * time.Hour)
	prev := afterForward
	for i := range 3 * 4096 {
		id := g.Next()
		if id <= prev {
			t.Fatalf("id %d after %d, %d ids into a backward step", id, prev, i)
		}
		prev = id
	}
	// 12,288 ids at one frozen millisecond: the held one plus 3 borrowed.
	if got, want := snowflake.Time(prev), snowflake.Time(afterForward).Add(3*time.Millisecond); !got.Equal(want) {
		t.Fatalf("after a backward step ids are at %s, want held at %s", got, want)
	}
	clock.Step(2*time.Hour + time.Second)
	if id := g.Next(); id <= prev || !snowflake.Time(id).Equal(clock.Now()) {
		t.Fatalf("once the clock passes the held time again: id %d at %s, clock %s", id, snowflake.Time(id), clock.Now())
	}
}

// A clock before the Epoch (a box whose clock is not synced yet) makes no
// id: it would be negative, sort before every real id and, once the clock is
// set, could be made again. The generator refuses until the clock is sane.
func TestGeneratorRefusesAClockBeforeTheEpoch(t *testing.T) {
	clock := &steppedClock{now: time.UnixMilli(snowflake.Epoch).Add(-time.Hour)}
	g, err := snowflake.NewGenerator(3)
	if err != nil {
		t.Fatal(err)
	}
	g = snowflake.WithClock(g, clock.Now)
	if id, err := g.TryNext(); !errors.Is(err, snowflake.ErrClockBeforeEpoch) {
		t.Fatalf("clock an hour before the Epoch: id %d, err %v; want ErrClockBeforeEpoch", id, err)
	}
	clock.Step(2 * time.Hour)
	id, err := g.TryNext()
	if err != nil || id <= 0 {
		t.Fatalf("clock after the Epoch: id %d, err %v", id, err)
	}
	clock.Step(-2 * time.Hour) // stepped back before the Epoch after ids were made
	if id, err := g.TryNext(); !errors.Is(err, snowflake.ErrClockBeforeEpoch) {
		t.Fatalf("clock stepped back before the Epoch: id %d, err %v; want ErrClockBeforeEpoch", id, err)
	}
}
