package api_test

import (
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/snowflake"
)

// Helpers of the inbox tests, which plant and read inbox rows directly.

// idGen is a Snowflake generator on a node id of the test's own, for rows a
// test plants beside chatd's.
func idGen(t testing.TB) *snowflake.Generator {
	t.Helper()
	gen, err := snowflake.NewGenerator(<-nodeIDs)
	if err != nil {
		t.Fatal(err)
	}
	return gen
}

// inboxRow reads user's inbox row of eventID.
func inboxRow(t testing.TB, session *gocql.Session, user, eventID int64) (kind string, msgID int64, payload *string) {
	t.Helper()
	err := session.Query(`SELECT kind, msg_id, payload FROM inbox_by_user WHERE user_id = ? AND bucket = ? AND event_id = ?`,
		user, snowflake.Bucket(eventID, testLayout.InboxBucket.Milliseconds()), eventID).Scan(&kind, &msgID, &payload)
	if err != nil {
		t.Fatal(err)
	}
	return kind, msgID, payload
}

// syncUntil syncs c from cursor until done accepts the events, polling: the
// last rows may still be above the safe point. It fails the test with what
// after 15 s.
func (c *client) syncUntil(cursor, what string, done func(events []map[string]any) bool) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		events, _ := c.syncAll(cursor) // fails the test unless 200
		if done(events) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s within 15 s: %v", what, events)
		}
		time.Sleep(100 * time.Millisecond) // polling, as above
	}
}
