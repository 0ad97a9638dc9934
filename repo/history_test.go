package repo_test

import (
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// Defect 18: a page that starts in empty time (a conversation quiet for an
// hour is 3,600 one-second buckets here) jumps to the newest message's bucket
// instead of answering empty pages 64 buckets at a time.
func TestHistoryBeforeJumpsOverEmptyTime(t *testing.T) {
	c := ctx(t)
	now := time.Now()
	conv := snowflake.MinIDAt(now.Add(-time.Hour-2*time.Second)) | 1 // created just before its messages
	var ids []int64
	for i := int64(0); i < 3; i++ {
		id := snowflake.MinIDAt(now.Add(-time.Hour)) + i<<22 | 7
		ids = append(ids, id)
		if err := store.PutMessage(c, repo.Message{ID: id, ConvID: conv, SenderID: 1, ClientMsgID: "x", Body: "old"}); err != nil {
			t.Fatal(err)
		}
		if err := store.TouchConversation(c, conv, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, before := range []int64{repo.NewestPossibleID(now) + 1, ids[2] + (10*time.Minute).Milliseconds()<<22} {
		page, err := store.HistoryBefore(c, conv, min(before, repo.NewestPossibleID(now)+1), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Messages) != 3 || page.Messages[0].ID != ids[2] || page.More {
			t.Fatalf("before %d: %d messages, more %v; want all 3 at once", before, len(page.Messages), page.More)
		}
	}
	// Below the newest message nothing is skipped: the walk goes on bucket by bucket.
	page, err := store.HistoryBefore(c, conv, ids[2], 10)
	if err != nil || len(page.Messages) != 2 || page.Messages[0].ID != ids[1] {
		t.Fatalf("before the newest: %+v, %v", page, err)
	}
}
