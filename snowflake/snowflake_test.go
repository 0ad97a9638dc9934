package snowflake_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/snowflake"
)

func TestIDMath(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	id := snowflake.MinIDAt(at)
	if got := snowflake.Time(id); !got.Equal(at) {
		t.Fatalf("Time(MinIDAt(t)) = %s, want %s", got, at)
	}
	if got := snowflake.Time(id + 4095 + 1023<<12); !got.Equal(at) {
		t.Fatalf("node and sequence bits leaked into the time: %s", got)
	}
	if snowflake.MinIDAt(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) != 0 {
		t.Fatal("times before the epoch must clamp to 0")
	}
	const bucket = int64(10_000)
	b := snowflake.Bucket(id, bucket)
	start := snowflake.BucketStart(b, bucket)
	if snowflake.Bucket(start, bucket) != b || snowflake.Bucket(start-1, bucket) != b-1 {
		t.Fatalf("bucket %d starts at %d, but ids around it disagree", b, start)
	}
	if start > id || snowflake.BucketStart(b+1, bucket) <= id {
		t.Fatalf("id %d not inside its bucket [%d, %d)", id, start, snowflake.BucketStart(b+1, bucket))
	}
}

func TestGeneratorUniqueAndIncreasing(t *testing.T) {
	g, err := snowflake.NewGenerator(7)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 20_000
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
	seen := make(map[int64]bool, workers*each)
	for _, ids := range out {
		for i, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %d", id)
			}
			seen[id] = true
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("ids not increasing within a goroutine: %d after %d", id, ids[i-1])
			}
			if (id>>12)&snowflake.MaxNodeID != 7 {
				t.Fatalf("id %d does not carry node 7", id)
			}
		}
	}
	if _, err := snowflake.NewGenerator(snowflake.MaxNodeID + 1); err == nil {
		t.Fatal("node id 1024 accepted")
	}
}

func TestGeneratorsWithDifferentNodesNeverCollide(t *testing.T) {
	a, _ := snowflake.NewGenerator(1)
	b, _ := snowflake.NewGenerator(2)
	seen := map[int64]bool{}
	for i := 0; i < 50_000; i++ {
		for _, id := range []int64{a.Next(), b.Next()} {
			if seen[id] {
				t.Fatalf("collision on %d", id)
			}
			seen[id] = true
		}
	}
}
