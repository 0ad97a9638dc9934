package api

import (
	"testing"

	"github.com/ringchat/ringchat/repo"
)

// FuzzDecodeCursor: any client string either decodes to an id in [0, int64
// max] that encodes back to a cursor of the same id, or is invalid_argument;
// never a panic, never a negative id. Seeds: testdata/fuzz/FuzzDecodeCursor.
func FuzzDecodeCursor(f *testing.F) {
	for _, seed := range []string{"", "!!", encodeCursor("sync", 0), encodeCursor("before", 1<<63-1),
		encodeCursor("after", 42), "c3luYzotMQ", "c3luYzo5MjIzMzcyMDM2ODU0Nzc1ODA4"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []string{"sync", "before", "after"} {
			id, err := decodeCursor(kind, s)
			if err != nil {
				if !repo.IsCode(err, repo.CodeInvalidArgument) {
					t.Fatalf("%q: error %v is not invalid_argument", s, err)
				}
				continue
			}
			if id < 0 {
				t.Fatalf("%q decoded to negative id %d", s, id)
			}
			if again, err := decodeCursor(kind, encodeCursor(kind, id)); err != nil || again != id {
				t.Fatalf("%q: id %d does not round-trip: %d, %v", s, id, again, err)
			}
		}
	})
}
