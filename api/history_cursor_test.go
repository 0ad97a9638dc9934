package api_test

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/snowflake"
)

const maxID = "9223372036854775807"

// decodeTestCursor reads an opaque cursor ("<kind>:<id>") the way the server writes it.
func decodeTestCursor(t *testing.T, c string) (string, int64) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		t.Fatalf("cursor %q: %v", c, err)
	}
	kind, v, _ := strings.Cut(string(raw), ":")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("cursor %q holds %q: %v", c, raw, err)
	}
	return kind, id
}

// Defect 18: positions near the int64 maximum are clamped to the newest id
// that can exist now, so they never overflow and never walk empty buckets.
func TestHistoryPositionsNearTheInt64Maximum(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("xa"), e.newUser("xb")
	conv := a.direct(b)
	var sent []string
	for i := 0; i < 3; i++ {
		sent = append(sent, a.mustSend(conv, "m"+strconv.Itoa(i))["id"].(string))
	}
	base := "/v1/conversations/" + conv + "/messages?limit=10&"
	ceiling := snowflake.MinIDAt(time.Now().Add(time.Minute))

	t.Run("before the maximum is the newest page", func(t *testing.T) {
		for _, before := range []string{maxID, "9223372036854775806", strconv.FormatInt(1<<62, 10)} {
			r := a.do("GET", base+"before="+before, nil)
			expect(t, r, 200)
			ms := r.body["messages"].([]any)
			if len(ms) != 3 || ms[0].(map[string]any)["id"] != sent[2] {
				t.Fatalf("before=%s: want the 3 messages at once, got %s", before, r.raw)
			}
			if next, _ := r.body["next_cursor"].(string); next != "" {
				t.Fatalf("before=%s: a cursor past the only page: %s", before, r.raw)
			}
		}
	})
	t.Run("after the maximum is empty and never overflows", func(t *testing.T) {
		for _, after := range []string{maxID, "9223372036854775806", strconv.FormatInt(1<<62, 10)} {
			r := a.do("GET", base+"after="+after, nil)
			expect(t, r, 200)
			if ms := r.body["messages"].([]any); len(ms) != 0 {
				t.Fatalf("after=%s: %s", after, r.raw)
			}
			if next, _ := r.body["next_cursor"].(string); next != "" {
				if _, id := decodeTestCursor(t, next); id < 0 || id > ceiling {
					t.Fatalf("after=%s: cursor %d out of range", after, id)
				}
				expect(t, a.do("GET", base+"cursor="+url.QueryEscape(next), nil), 200)
			}
		}
	})
	t.Run("sync from the maximum cursor", func(t *testing.T) {
		cur := base64.RawURLEncoding.EncodeToString([]byte("sync:" + maxID))
		r := a.do("GET", "/v1/sync?cursor="+cur, nil)
		expect(t, r, 200)
		if _, id := decodeTestCursor(t, r.body["cursor"].(string)); id < 0 || id > ceiling {
			t.Fatalf("sync cursor %d out of range: %s", id, r.raw)
		}
	})
}
