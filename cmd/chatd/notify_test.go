package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/notify/apns/apnstest"
	"github.com/ringchat/ringchat/notify/fcm/fcmtest"
	"github.com/ringchat/ringchat/notify/webhook/webhooktest"
	"github.com/ringchat/ringchat/notify/webpush"
	"github.com/ringchat/ringchat/notify/webpush/webpushtest"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
)

// Notifications end to end (docs/notifications.md): real chatd processes,
// the real Cassandra node, and a local integration endpoint that checks the
// Standard Webhooks signature and replay window of every delivery.

func notifyEnv(t *testing.T) map[string]string {
	env := clusterEnv(t)
	env["RINGCHAT_PUSH_KINDS"] = "webhook"
	env["RINGCHAT_PUSH_INSECURE_TARGETS"] = "true"
	env["RINGCHAT_NOTIFY_LEASE"] = "3s"
	env["RINGCHAT_NOTIFY_ATTEMPTS"] = "3"
	env["RINGCHAT_NOTIFY_RETRY_MAX"] = "2s"
	// A bucket is worked this long after its end (the sync lag): short, to keep the test short.
	env["RINGCHAT_SEND_DEADLINE"], env["RINGCHAT_SYNC_LAG"] = "1s", "2500ms"
	return env
}

// pushTo registers a webhook target for c's device on srv.
func pushTo(t *testing.T, c *testcluster.Client, srv *webhooktest.Server) {
	t.Helper()
	path := "/u" + c.UserID
	st, body := c.Do("PUT", "/v1/me/push", map[string]any{"kind": "webhook", "url": srv.URL + path})
	if st != 200 {
		t.Fatalf("register push target: %d %v", st, body)
	}
	secret, _ := body["secret"].(string)
	srv.Expect(path, secret)
}

// notifyDB reads the shard cursors: once a shard's cursor is past a bucket,
// every notice of it has been worked, so "none arrived" is a fact, not a wait.
type notifyDB struct {
	t *testing.T
	s *gocql.Session
}

func openNotifyDB(t *testing.T, keyspace string) *notifyDB {
	s, err := repo.Connect(cqltest.Config(keyspace))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &notifyDB{t: t, s: s}
}

// waitWorked polls until the shard of convID has finished the bucket of msgID.
func (db *notifyDB) waitWorked(convID, msgID string) {
	db.t.Helper()
	conv, _ := strconv.ParseInt(convID, 10, 64)
	msg, _ := strconv.ParseInt(msgID, 10, 64)
	bucket, shard := repo.OutboxPlace(msg, conv)
	var cursor int64
	var err error
	eventually(db.t, 40*time.Second, func() bool {
		err = db.s.Query(`SELECT cursor FROM notify_shards WHERE cluster = 'default' AND shard = ? AND lease = false`, shard).Scan(&cursor)
		return err == nil && cursor > bucket
	}, func() string {
		return fmt.Sprintf("shard %d did not finish bucket %d (cursor %d, %v)", shard, bucket, cursor, err)
	})
}

// eventually polls cond until it holds, failing the test with failure()
// after timeout.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, failure func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(failure())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitDeliveries(t *testing.T, srv *webhooktest.Server, path string, n int) []webhooktest.Delivery {
	t.Helper()
	var got []webhooktest.Delivery
	eventually(t, 40*time.Second, func() bool {
		got = got[:0]
		for _, d := range srv.Deliveries() {
			if d.Payload.Data.UserID == path {
				got = append(got, d)
			}
		}
		return len(got) >= n
	}, func() string {
		return fmt.Sprintf("%d deliveries for user %s, want %d (refused: %v)", len(got), path, n, srv.Refused())
	})
	return got
}

// alignToBucket waits for the start of an outbox bucket, so a burst sent at
// once falls in one (a burst is what one bucket of a conversation holds). A
// wait for the clock, not for a condition: nothing to poll.
func alignToBucket() {
	w := repo.NotifyBucket.Milliseconds()
	if left := w - time.Now().UnixMilli()%w; left < w-100 {
		time.Sleep(time.Duration(left+20) * time.Millisecond)
	}
}

func countFor(srv *webhooktest.Server, userID string) int {
	n := 0
	for _, d := range srv.Deliveries() {
		if d.Payload.Data.UserID == userID {
			n++
		}
	}
	return n
}

// notifyPair starts a node with push on, the integration endpoint, and two
// users in a DM whose second has a webhook target.
func notifyPair(t *testing.T, prefix string) (*testcluster.Node, *notifyDB, *webhooktest.Server, *testcluster.Client, *testcluster.Client, string) {
	env := notifyEnv(t)
	node := testcluster.Start(t, env)
	db := openNotifyDB(t, env["RINGCHAT_KEYSPACE"])
	srv := webhooktest.New()
	t.Cleanup(srv.Close)
	a := testcluster.Register(t, node, prefix+"a")
	b := testcluster.Register(t, node, prefix+"b")
	conv := a.Direct(b)
	pushTo(t, b, srv)
	return node, db, srv, a, b, conv
}

func TestOfflineDeviceGetsOneCoalescedPushOnlineNoneMutedNone(t *testing.T) {
	node, db, srv, a, b, conv := notifyPair(t, "nt")

	// Offline: a burst of three makes exactly one notice, with the count,
	// the newest message's preview, and the sender as title.
	alignToBucket()
	var last string
	for i := range 3 {
		st, id := a.Send(conv, testcluster.UUIDv7(time.Now()), fmt.Sprintf("burst %d", i))
		if st != 201 && st != 200 {
			t.Fatalf("send: %d", st)
		}
		last = id
	}
	db.waitWorked(conv, last)
	got := waitDeliveries(t, srv, b.UserID, 1)
	if len(got) != 1 {
		t.Fatalf("%d notices for one burst, want 1: %+v", len(got), got)
	}
	d := got[0].Payload.Data
	if d.Count != 3 || d.MessageID != last || d.ConversationID != conv || d.Body != "burst 2 (+2 more)" || d.Title != a.Handle || d.DeviceID != b.DeviceID {
		t.Fatalf("notice %+v", d)
	}
	if d.Badge < 3 {
		t.Errorf("badge %d, want the unread total (at least 3)", d.Badge)
	}

	// Online: a device with a live socket gets the message there and no push.
	sock := b.Dial()
	waitRoutes(t, node, b.UserID, 1)
	_, online := a.Send(conv, testcluster.UUIDv7(time.Now()), "while online")
	sock.WaitFor(10*time.Second, "the live message", func([]testcluster.Frame) bool { return sock.MessageIDs()[online] > 0 })
	db.waitWorked(conv, online)
	if n := countFor(srv, b.UserID); n != 1 {
		t.Fatalf("an online device was pushed to: %d notices", n)
	}
	sock.Close()
	waitNoRoutes(t, db, b.UserID)

	// Muted: nothing; unmuted again: the next message is pushed.
	if st, body := b.Do("PUT", "/v1/conversations/"+conv+"/me", map[string]any{"muted_until": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}); st != 200 {
		t.Fatalf("mute: %d %v", st, body)
	}
	_, muted := a.Send(conv, testcluster.UUIDv7(time.Now()), "while muted")
	db.waitWorked(conv, muted)
	if n := countFor(srv, b.UserID); n != 1 {
		t.Fatalf("a muted conversation was pushed: %d notices", n)
	}
	if st, body := b.Do("PUT", "/v1/conversations/"+conv+"/me", map[string]any{"muted_until": nil}); st != 200 {
		t.Fatalf("unmute: %d %v", st, body)
	}
	_, after := a.Send(conv, testcluster.UUIDv7(time.Now()), "unmuted")
	if got := waitDeliveries(t, srv, b.UserID, 2); got[1].Payload.Data.MessageID != after {
		t.Fatalf("after unmuting: %+v", got[1].Payload.Data)
	}

	// The user's no-previews setting of the conversation: the notice says
	// "New message" though the device's target asked for previews; the
	// setting is in the chat list and undone by previews: true.
	if st, body := b.Do("PUT", "/v1/conversations/"+conv+"/me", map[string]any{"previews": false}); st != 200 || body["previews"] != false {
		t.Fatalf("previews off: %d %v", st, body)
	}
	_, hidden := a.Send(conv, testcluster.UUIDv7(time.Now()), "secret text")
	if got := waitDeliveries(t, srv, b.UserID, 3); got[2].Payload.Data.MessageID != hidden || got[2].Payload.Data.Body != "New message" {
		t.Fatalf("with previews off: %+v", got[2].Payload.Data)
	}
	if st, body := b.Do("GET", "/v1/conversations", nil); st != 200 || !strings.Contains(fmt.Sprint(body), "previews:false") {
		t.Fatalf("chat list without the setting: %d %v", st, body)
	}
	if st, body := b.Do("PUT", "/v1/conversations/"+conv+"/me", map[string]any{"previews": true, "pinned": true}); st != 200 || body["previews"] != true || body["pinned"] != true {
		t.Fatalf("previews on: %d %v", st, body)
	}
	if st, body := b.Do("PUT", "/v1/conversations/"+conv+"/me", map[string]any{"previews": "no"}); st != 400 {
		t.Fatalf("previews \"no\": %d %v, want 400", st, body)
	}
	_, shown := a.Send(conv, testcluster.UUIDv7(time.Now()), "shown again")
	if got := waitDeliveries(t, srv, b.UserID, 4); got[3].Payload.Data.MessageID != shown || got[3].Payload.Data.Body != "shown again" {
		t.Fatalf("with previews on again: %+v", got[3].Payload.Data)
	}

	// The sender's own devices are never notified of their own messages.
	pushTo(t, a, srv)
	_, own := a.Send(conv, testcluster.UUIDv7(time.Now()), "mine")
	db.waitWorked(conv, own)
	if n := countFor(srv, a.UserID); n != 0 {
		t.Fatalf("the sender got %d notices of their own message", n)
	}

	// Logout ends the target with the device: no more notices.
	if st, _ := b.Do("POST", "/v1/auth/logout", nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	_, gone := a.Send(conv, testcluster.UUIDv7(time.Now()), "after logout")
	db.waitWorked(conv, gone)
	if n := countFor(srv, b.UserID); n != 5 {
		t.Fatalf("%d notices after logout, want the 5 before it", n)
	}
}

func waitNoRoutes(t *testing.T, db *notifyDB, userID string) {
	t.Helper()
	uid, _ := strconv.ParseInt(userID, 10, 64)
	eventually(t, 15*time.Second, func() bool {
		var n int
		err := db.s.Query(`SELECT COUNT(*) FROM routes_by_user WHERE user_id = ?`, uid).Scan(&n)
		return err == nil && n == 0
	}, func() string { return "user " + userID + " still has routes" })
}

// A provider failing is retried with backoff, then dead-lettered; one asking
// to wait is waited for.
func TestFailingPushRetriedThenDeadLettered(t *testing.T) {
	node, db, srv, a, b, conv := notifyPair(t, "nf")

	srv.Inject(webhooktest.Answer{Status: 503, RetryAfter: "1"}, webhooktest.Answer{Status: 500})
	_, first := a.Send(conv, testcluster.UUIDv7(time.Now()), "retried")
	if got := waitDeliveries(t, srv, b.UserID, 1); got[0].Payload.Data.MessageID != first {
		t.Fatalf("delivered %+v", got[0].Payload.Data)
	}
	before := srv.Requests()
	srv.Inject(webhooktest.Answer{Status: 500}, webhooktest.Answer{Status: 500}, webhooktest.Answer{Status: 500})
	_, dead := a.Send(conv, testcluster.UUIDv7(time.Now()), "dead")
	convID, _ := strconv.ParseInt(conv, 10, 64)
	_, shard := repo.OutboxPlace(0, convID)
	// Each failed attempt is retried from a later bucket; the third is the last.
	var reason string
	var attempts int
	var err error
	eventually(t, 60*time.Second, func() bool {
		hour := time.Now().Unix() / 3600
		err = db.s.Query(`SELECT reason, attempts FROM notify_dead_letters WHERE hour = ? AND shard = ? AND failed_at > maxTimeuuid('1970-01-01')`,
			hour, shard).Scan(&reason, &attempts)
		return err == nil
	}, func() string { return fmt.Sprintf("no dead letter for %s: %v (refused %v)", dead, err, srv.Refused()) })
	if attempts != 3 || srv.Requests()-before != 3 {
		t.Fatalf("dead-lettered after %d attempts, %d requests; want RINGCHAT_NOTIFY_ATTEMPTS=3 of each (%q)", attempts, srv.Requests()-before, reason)
	}
	if v := metric(t, "http://"+node.Admin, "ringchat_notify_dead_lettered_total"); v != 1 {
		t.Fatalf("dead-lettered metric %v", v)
	}
	if v := metric(t, "http://"+node.Admin, "ringchat_notify_retried_total"); v < 4 {
		t.Fatalf("retried metric %v, want the 2 retries of each notice", v)
	}
	if countFor(srv, b.UserID) != 1 {
		t.Fatalf("a dead-lettered notice was delivered")
	}
}

// kill -9 of the node holding a shard with a pending bucket loses no
// notice: the other node takes the lapsed lease and works it from the cursor.
func TestKilledShardHolderLosesNoNotice(t *testing.T) {
	env := notifyEnv(t)
	env["RINGCHAT_SYNC_LAG"] = "5s" // time to kill the holder before the bucket settles
	nodes := startNodes(t, env, 2)
	db := openNotifyDB(t, env["RINGCHAT_KEYSPACE"])
	srv := webhooktest.New()
	defer srv.Close()
	a := testcluster.Register(t, nodes[0], "nka")
	b := testcluster.Register(t, nodes[0], "nkb")
	conv := a.Direct(b)
	pushTo(t, b, srv)
	_, id := a.Send(conv, testcluster.UUIDv7(time.Now()), "survives")
	convID, _ := strconv.ParseInt(conv, 10, 64)
	msgID, _ := strconv.ParseInt(id, 10, 64)
	_, shard := repo.OutboxPlace(msgID, convID)
	// Shards move while the nodes find their share (the first took all 16):
	// poll until one holds it.
	var holder string
	var err error
	eventually(t, 15*time.Second, func() bool {
		err = db.s.Query(`SELECT holder FROM notify_shards WHERE cluster = 'default' AND shard = ? AND lease = true`, shard).Scan(&holder)
		return err == nil && holder != ""
	}, func() string { return fmt.Sprintf("shard %d has no holder: %v", shard, err) })
	killed := false
	for _, n := range nodes {
		if strings.HasPrefix(holder, nodeInstanceOf(t, db, n)+"/") {
			n.Kill()
			killed = true
		}
	}
	if !killed {
		t.Fatalf("no node holds shard %d as %q", shard, holder)
	}
	if got := waitDeliveries(t, srv, b.UserID, 1); got[0].Payload.Data.MessageID != id {
		t.Fatalf("delivered %+v", got[0].Payload.Data)
	}
}

// nodeInstanceOf finds a node's instance in the registry by its internal address.
func nodeInstanceOf(t *testing.T, db *notifyDB, n *testcluster.Node) string {
	t.Helper()
	iter := db.s.Query(`SELECT instance, internal_addr FROM nodes WHERE cluster = 'default'`).Iter()
	var instance, addr string
	for iter.Scan(&instance, &addr) {
		if addr == n.Internal {
			_ = iter.Close()
			return instance
		}
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return ""
}

// Being added to a group is a notice; a mention reaches a muted group, other
// messages do not.
func TestAddedAndMentionNotices(t *testing.T) {
	env := notifyEnv(t)
	node := testcluster.Start(t, env)
	db := openNotifyDB(t, env["RINGCHAT_KEYSPACE"])
	srv := webhooktest.New()
	t.Cleanup(srv.Close)
	a := testcluster.Register(t, node, "nma")
	b := testcluster.Register(t, node, "nmb")
	c := testcluster.Register(t, node, "nmc")
	pushTo(t, b, srv)
	pushTo(t, c, srv)

	// The first delivery of b's notice fails: its retry row makes it again.
	srv.Inject(webhooktest.Answer{Status: 500})
	st, body := a.Do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "crew", "member_ids": []string{b.UserID}})
	if st != 201 {
		t.Fatalf("create group: %d %v", st, body)
	}
	group := body["conversation"].(map[string]any)["id"].(string)
	got := waitDeliveries(t, srv, b.UserID, 1)
	if d := got[0].Payload.Data; d.Event != "added" || d.Title != "crew" || d.ConversationID != group || d.Body != a.Handle+" added you to the group" {
		t.Fatalf("added notice %+v", d)
	}
	if st, body := a.Do("PUT", "/v1/conversations/"+group+"/members/"+c.UserID, nil); st != 200 {
		t.Fatalf("add member: %d %v", st, body)
	}
	if got := waitDeliveries(t, srv, c.UserID, 1); got[0].Payload.Data.Event != "added" {
		t.Fatalf("added notice %+v", got[0].Payload.Data)
	}

	if st, body := b.Do("PUT", "/v1/conversations/"+group+"/me", map[string]any{"muted_until": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}); st != 200 {
		t.Fatalf("mute: %d %v", st, body)
	}
	_, plain := a.Send(group, testcluster.UUIDv7(time.Now()), "nothing for b")
	db.waitWorked(group, plain)
	if n := countFor(srv, b.UserID); n != 1 {
		t.Fatalf("a muted member got %d notices, want only the added one", n)
	}
	_, mention := a.Send(group, testcluster.UUIDv7(time.Now()), "look @"+strings.ToUpper(b.Handle)+", here")
	got = waitDeliveries(t, srv, b.UserID, 2)
	if d := got[1].Payload.Data; d.Event != "mention" || d.MessageID != mention || !strings.HasSuffix(d.Body, "look @"+strings.ToUpper(b.Handle)+", here") {
		t.Fatalf("mention notice %+v", d)
	}
	// c is not muted: both messages reach them as plain messages.
	if got := waitDeliveries(t, srv, c.UserID, 3); got[1].Payload.Data.Event != "message" || got[2].Payload.Data.Event != "message" {
		t.Fatalf("c's notices %+v %+v", got[1].Payload.Data, got[2].Payload.Data)
	}
}

// FCM through chatd: the service-account key from --fcm-credentials-file,
// the local FCM server trusted through --push-ca-file; a token FCM calls
// unregistered is removed.
func TestFCMPushThroughChatd(t *testing.T) {
	fcm := fcmtest.NewServer(t)
	dir := t.TempDir()
	keyFile, caFile := filepath.Join(dir, "key.json"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(keyFile, fcm.NewServiceAccount("ringchat-test"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, fcm.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := notifyEnv(t)
	env["RINGCHAT_PUSH_KINDS"] = "fcm"
	env["RINGCHAT_FCM_CREDENTIALS_FILE"], env["RINGCHAT_FCM_ENDPOINT"], env["RINGCHAT_PUSH_CA_FILE"] = keyFile, fcm.URL(), caFile
	node := testcluster.Start(t, env)
	a := testcluster.Register(t, node, "nfc")
	b := testcluster.Register(t, node, "nfd")
	conv := a.Direct(b)
	token := fcm.NewToken("ringchat-test")
	if st, body := b.Do("PUT", "/v1/me/push", map[string]any{"kind": "fcm", "token": token}); st != 200 {
		t.Fatalf("register: %d %v", st, body)
	}
	_, id := a.Send(conv, testcluster.UUIDv7(time.Now()), "to the phone")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	msgs, err := fcm.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatalf("no FCM message: %v\n%s", err, node.Logs())
	}
	m := msgs[0]
	if m.Token != token || m.Notification == nil || m.Notification.Title != a.Handle || m.Notification.Body != "to the phone" ||
		m.Data["conversation_id"] != conv || m.Data["message_id"] != id || m.Android == nil || m.Android.CollapseKey != "c"+conv {
		t.Fatalf("FCM message %+v", m)
	}

	fcm.UnregisterToken(token)
	a.Send(conv, testcluster.UUIDv7(time.Now()), "nobody there")
	eventually(t, 40*time.Second, func() bool {
		st, _ := b.Do("GET", "/v1/me/push", nil)
		return st == 404
	}, func() string { return "an unregistered FCM token was not removed" })
}

// APNs and Web Push through chatd, with their credentials from the flags and
// the local servers trusted through --push-ca-file.
func TestAPNsAndWebPushThroughChatd(t *testing.T) {
	ap := apnstest.NewServer(t)
	key := ap.NewKey(t)
	wp := webpushtest.New(t)
	vapidPublic, vapidPrivate, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, caFile := filepath.Join(dir, "key.p8"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(keyFile, key.P8, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, append(ap.CertificatePEM(), wp.CertificatePEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	env := notifyEnv(t)
	env["RINGCHAT_PUSH_KINDS"], env["RINGCHAT_PUSH_CA_FILE"] = "apns,webpush", caFile
	env["RINGCHAT_APNS_KEY_FILE"], env["RINGCHAT_APNS_KEY_ID"], env["RINGCHAT_APNS_TEAM_ID"], env["RINGCHAT_APNS_ENDPOINT"] = keyFile, key.KeyID, key.TeamID, ap.URL()
	env["RINGCHAT_VAPID_PUBLIC_KEY"], env["RINGCHAT_VAPID_PRIVATE_KEY"], env["RINGCHAT_VAPID_SUBJECT"] = vapidPublic, vapidPrivate, "mailto:ops@example.com"
	node := testcluster.Start(t, env)
	a := testcluster.Register(t, node, "npa")
	phone := testcluster.Register(t, node, "npb")
	browser := testcluster.Login(t, node, phone.Handle) // a second device of the same user
	conv := a.Direct(phone)

	token := strings.Repeat("0f", 32)
	ap.AddDevice(token, "com.example.chat")
	if st, body := phone.Do("PUT", "/v1/me/push", map[string]any{"kind": "apns", "token": token, "topic": "com.example.chat"}); st != 200 {
		t.Fatalf("register apns: %d %v", st, body)
	}
	sub := wp.NewSubscription()
	if st, body := browser.Do("PUT", "/v1/me/push", map[string]any{"kind": "webpush", "endpoint": sub.Endpoint,
		"keys": map[string]any{"p256dh": sub.P256DH, "auth": sub.Auth}}); st != 200 {
		t.Fatalf("register webpush: %d %v", st, body)
	}
	_, id := a.Send(conv, testcluster.UUIDv7(time.Now()), "to both devices")

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	pushes, err := wp.WaitPushes(ctx, 1)
	if err != nil {
		t.Fatalf("no Web Push: %v\n%s", err, node.Logs())
	}
	var p webpush.Payload
	if err := json.Unmarshal(pushes[0].Plaintext, &p); err != nil || p.MessageID != id || p.Body != "to both devices" || p.ConversationID != conv {
		t.Fatalf("Web Push payload %s (%v)", pushes[0].Plaintext, err)
	}
	eventually(t, 40*time.Second, func() bool { return len(ap.Accepted()) > 0 },
		func() string {
			return fmt.Sprintf("no APNs notification (requests %+v)\n%s", ap.Requests(), node.Logs())
		})
	r := ap.Accepted()[0]
	if r.Token != token || r.Topic != "com.example.chat" || r.CollapseID != "c"+conv || r.Payload["message_id"] != id {
		t.Fatalf("APNs request %+v", r)
	}
}
