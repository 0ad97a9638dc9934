package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

// The raw lines are the ceilings chatd is compared with only while they
// write what a send writes: a message sent through chatd and one written by
// each raw line leave rows with the same cells (inbox payloads with the same
// fields) in every table a direct send touches; the claim line also leaves
// its send_dedupe claim, the plain line none.
func TestRawLinesWriteTheRowsOfASend(t *testing.T) {
	session, ks := cqltest.NewKeyspace(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	node := testcluster.Start(t, map[string]string{"RINGCHAT_CASSANDRA_HOSTS": strings.Join(cqltest.Hosts(), ","), "RINGCHAT_KEYSPACE": ks})
	store := repo.NewStore(session, repo.Layout{MessageBucket: time.Hour, InboxBucket: time.Hour}, repo.DefaultRetention())
	ctx := context.Background()
	o := options{keyspace: ks, cache: t.TempDir(), users: 2, pushMax: 100}
	pop, err := seed(ctx, store, o, groupSpec{}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	from, to, conv := pop.Users[0], pop.Users[1], pop.Convs[0]

	body, _ := json.Marshal(map[string]string{"client_msg_id": clientMsgID(), "body": paddedBody(time.Now().UnixNano(), 4000)})
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/v1/conversations/%d/messages", node.URL, conv), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+pop.Tokens[0])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sent struct {
		Message struct {
			ID string `json:"id"`
		} `json:"message"`
	}
	err = json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("send through chatd: HTTP %d, %v", resp.StatusCode, err)
	}
	chatdID, _ := strconv.ParseInt(sent.Message.ID, 10, 64)

	gen, err := snowflake.NewGenerator(901)
	if err != nil {
		t.Fatal(err)
	}
	for _, claim := range []bool{true, false} {
		m, err := writeDirectMessage(ctx, store, gen, from, to, conv, 4000, claim)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct{ what, cql string }{
			{"message row", `SELECT * FROM messages_by_conversation WHERE conv_id = ? AND bucket = ? AND msg_id = ?`},
			{"inbox row of the sender", `SELECT * FROM inbox_by_user WHERE user_id = ? AND bucket = ? AND event_id = ?`},
			{"inbox row of the peer", `SELECT * FROM inbox_by_user WHERE user_id = ? AND bucket = ? AND event_id = ?`},
		} {
			key := func(id int64) []any {
				switch q.what {
				case "message row":
					return []any{conv, snowflake.Bucket(id, time.Hour.Milliseconds()), id}
				case "inbox row of the sender":
					return []any{from, snowflake.Bucket(id, time.Hour.Milliseconds()), id}
				}
				return []any{to, snowflake.Bucket(id, time.Hour.Milliseconds()), id}
			}
			chatdKey := key(chatdID)
			if q.what != "message row" {
				// chatd's inbox event has an id of its own (a server Snowflake
				// beside the message's derived id): find it by the message.
				chatdKey[2] = eventOf(t, session, chatdKey[0].(int64), chatdID)
			}
			want, got := rowShape(t, session, q.cql, chatdKey...), rowShape(t, session, q.cql, key(m.ID)...)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("claim %v: %s: chatd writes %v, raw %v", claim, q.what, want, got)
			}
		}
		// The chat list: the conversation's cell and both members' rows now
		// name the raw message, the newest.
		var last int64
		if err := session.Query(`SELECT last_msg_id FROM conversations WHERE conv_id = ?`, conv).Scan(&last); err != nil || last != m.ID {
			t.Errorf("claim %v: conversation's last_msg_id %d (%v), want %d", claim, last, err, m.ID)
		}
		for _, u := range []int64{from, to} {
			var activity int64
			if err := session.Query(`SELECT activity_id FROM chat_positions WHERE user_id = ? AND conv_id = ?`, u, conv).Scan(&activity); err != nil || activity != m.ID {
				t.Errorf("claim %v: user %d's chat position %d (%v), want %d", claim, u, activity, err, m.ID)
			}
		}
		c, err := store.ClaimSend(ctx, from, m.ClientMsgID, conv, gen.Next())
		if err != nil {
			t.Fatal(err)
		}
		if c.Won == claim {
			t.Errorf("claim %v: a claim of its client_msg_id afterwards won: %v", claim, c.Won)
		}
	}
}

// rowShape is the row's columns that hold a value, and for a JSON payload
// its fields: what must agree between chatd's rows and raw's.
func rowShape(t *testing.T, s *gocql.Session, cql string, key ...any) []string {
	t.Helper()
	row := map[string]any{}
	if err := s.Query(cql, key...).MapScan(row); err != nil {
		t.Fatalf("%s %v: %v", cql, key, err)
	}
	var shape []string
	for col, v := range row {
		if v == nil || reflect.ValueOf(v).IsZero() {
			continue
		}
		shape = append(shape, col)
		if col == "payload" {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal([]byte(v.(string)), &fields); err != nil {
				t.Fatalf("payload %q: %v", v, err)
			}
			for f := range fields {
				shape = append(shape, "payload."+f)
			}
		}
	}
	slices.Sort(shape)
	return shape
}

// eventOf finds the id of the inbox event user's inbox holds for msgID (in
// the message's hour bucket or the next: the event is made after the id).
func eventOf(t *testing.T, s *gocql.Session, user, msgID int64) int64 {
	t.Helper()
	b := snowflake.Bucket(msgID, time.Hour.Milliseconds())
	for _, bucket := range []int32{b, b + 1} {
		iter := s.Query(`SELECT event_id, msg_id FROM inbox_by_user WHERE user_id = ? AND bucket = ?`, user, bucket).Iter()
		var ev, msg int64
		for iter.Scan(&ev, &msg) {
			if msg == msgID {
				_ = iter.Close()
				return ev
			}
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("user %d's inbox holds no event for message %d", user, msgID)
	return 0
}
