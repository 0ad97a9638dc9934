package repo

import (
	"context"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/snowflake"
)

// Notification storage (schema 0016, docs/notifications.md): the push target
// each device may register, the outbox a send writes a row into, and the
// shard leases and cursors the workers share.

// NotifyBucket and NotifyShards place an outbox row: a partition holds the
// rows of one NotifyBucket of message time and one shard of conversations.
// They are fixed: every node must read rows where every other node wrote them.
const (
	NotifyBucket = 2 * time.Second
	NotifyShards = 16
)

// PushTarget is a device's registered push destination and settings.
type PushTarget struct {
	UserID     int64     `db:"user_id"`
	DeviceID   int64     `db:"device_id"`
	Kind       string    `db:"kind"`
	Token      string    `db:"push_token"`
	Topic      string    `db:"topic"`
	Sandbox    bool      `db:"sandbox"`
	Endpoint   string    `db:"endpoint"`
	P256DH     string    `db:"p256dh"`
	Auth       string    `db:"auth"`
	Secret     string    `db:"secret"`
	Previews   bool      `db:"previews"`
	QuietStart int       `db:"quiet_start"`
	QuietEnd   int       `db:"quiet_end"`
	TimeZone   string    `db:"time_zone"`
	UpdatedAt  time.Time `db:"updated_at"`
}

const pushTargetColumns = `user_id, device_id, kind, push_token, topic, sandbox, endpoint, p256dh, auth, secret, previews, quiet_start, quiet_end, time_zone, updated_at`

const (
	// Every column is written, unused ones as '' or 0, never null: a null
	// would be a tombstone per registration.
	cqlPutPushTarget    = `INSERT INTO push_targets (` + pushTargetColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	cqlGetPushTarget    = `SELECT ` + pushTargetColumns + ` FROM push_targets WHERE user_id = ? AND device_id = ?`
	cqlListPushTargets  = `SELECT ` + pushTargetColumns + ` FROM push_targets WHERE user_id = ? LIMIT ?`
	cqlDeletePushTarget = `DELETE FROM push_targets WHERE user_id = ? AND device_id = ?`
	// Only the row the caller read: a device that registered again since
	// (a new token) keeps its new target when the old one is reported gone.
	cqlDeleteGoneTarget = `DELETE FROM push_targets WHERE user_id = ? AND device_id = ? IF updated_at = ?`
)

// PutPushTarget writes (or replaces) a device's push target.
func (st *Store) PutPushTarget(ctx context.Context, t PushTarget) error {
	err := st.query(ctx, cqlPutPushTarget, t.UserID, t.DeviceID, t.Kind, t.Token, t.Topic, t.Sandbox, t.Endpoint,
		t.P256DH, t.Auth, t.Secret, t.Previews, t.QuietStart, t.QuietEnd, t.TimeZone, t.UpdatedAt).ExecRelease()
	return translate("put push target", err)
}

// GetPushTarget returns a device's push target (CodeNotFound: none).
func (st *Store) GetPushTarget(ctx context.Context, userID, deviceID int64) (PushTarget, error) {
	var t PushTarget
	err := st.query(ctx, cqlGetPushTarget, userID, deviceID).GetRelease(&t)
	return t, translate("get push target", err)
}

// PushTargets lists a user's devices' push targets (at most one per device).
func (st *Store) PushTargets(ctx context.Context, userID int64) ([]PushTarget, error) {
	var ts []PushTarget
	err := st.query(ctx, cqlListPushTargets, userID, deviceListLimit).SelectRelease(&ts)
	return ts, translate("list push targets", err)
}

// DeletePushTarget removes a device's push target.
func (st *Store) DeletePushTarget(ctx context.Context, userID, deviceID int64) error {
	return translate("delete push target", st.query(ctx, cqlDeletePushTarget, userID, deviceID).ExecRelease())
}

// DeleteGoneTarget removes t, as read, once a provider says it is gone;
// a registration made since is kept.
func (st *Store) DeleteGoneTarget(ctx context.Context, t PushTarget) error {
	_, err := st.lwt(ctx, withinDC, cqlDeleteGoneTarget, t.UserID, t.DeviceID, t.UpdatedAt).MapScanCAS(map[string]any{})
	return translate("delete gone push target", err)
}

// OutboxEntry is a message that may need pushes.
type OutboxEntry struct {
	// EventID places the row (the send's event id: a retry's is fresh).
	EventID  int64  `db:"event_id"`
	MsgID    int64  `db:"msg_id"`
	ConvID   int64  `db:"conv_id"`
	SenderID int64  `db:"sender_id"`
	Event    string `db:"event"`
	// A retry row (RetryOutbox) names the one device it is for, how many
	// deliveries were made, and how many messages the notice stands for.
	UserID   int64 `db:"user_id"`
	DeviceID int64 `db:"device_id"`
	Attempt  int   `db:"attempt"`
	Count    int   `db:"count"`
}

// Outbox and notice events. Retry rows of events (chat: the operator's
// event webhook, a bot's webhook target) hold "hook." and the event they are
// made from, with device_id -1 for the operator's (README, notify_outbox).
const (
	NotifyMessage = "message"
	NotifyMention = "mention" // a notice only: a message naming the member (@handle)
	NotifyAdded   = "added"
	// NotifyRemoved is a removal from a group (msg_id its change id): an
	// operator event only, no notice.
	NotifyRemoved = "removed"
)

// OutboxPlace is the partition an outbox row of eventID in convID goes to.
func OutboxPlace(eventID, convID int64) (bucket int64, shard int) {
	return OutboxBucket(snowflake.Time(eventID)), int(uint64(convID) % NotifyShards)
}

// OutboxBucket is the bucket holding the rows of time at.
func OutboxBucket(at time.Time) int64 {
	ms := NotifyBucket.Milliseconds()
	return at.UnixMilli() / ms * ms
}

const (
	cqlPutOutbox  = `INSERT INTO notify_outbox (bucket, shard, event_id, msg_id, conv_id, sender_id, event) VALUES (?, ?, ?, ?, ?, ?, ?)`
	cqlReadOutbox = `SELECT event_id, msg_id, conv_id, sender_id, event, user_id, device_id, attempt, count FROM notify_outbox WHERE bucket = ? AND shard = ? AND event_id > ? LIMIT ?`
	cqlPutRetry   = `INSERT INTO notify_outbox (bucket, shard, event_id, msg_id, conv_id, sender_id, event, user_id, device_id, attempt, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

func outboxArgs(e OutboxEntry) []any {
	bucket, shard := OutboxPlace(e.EventID, e.ConvID)
	return []any{bucket, shard, e.EventID, e.MsgID, e.ConvID, e.SenderID, e.Event}
}

// PutOutbox writes one outbox row.
func (st *Store) PutOutbox(ctx context.Context, e OutboxEntry) error {
	return translate("put outbox row", st.query(ctx, cqlPutOutbox, outboxArgs(e)...).ExecRelease())
}

// RetryOutbox writes a retry row for one device's notice into the bucket
// of at, in the shard of its conversation (a later bucket than the one being
// worked: the shard's cursor never waits for a failing target).
func (st *Store) RetryOutbox(ctx context.Context, at time.Time, e OutboxEntry) error {
	_, shard := OutboxPlace(e.EventID, e.ConvID)
	err := st.query(ctx, cqlPutRetry, OutboxBucket(at), shard, e.EventID, e.MsgID, e.ConvID, e.SenderID, e.Event,
		e.UserID, e.DeviceID, e.Attempt, e.Count).ExecRelease()
	return translate("put outbox retry", err)
}

const cqlPutChangeOutbox = `INSERT INTO notify_outbox (bucket, shard, event_id, msg_id, conv_id, sender_id, event, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// PutChangeOutbox writes the row of a group's membership change (event
// NotifyAdded or NotifyRemoved) about e.UserID (for an addition, 0: every
// member but the one who made the change, a new group), placed by e.EventID.
func (st *Store) PutChangeOutbox(ctx context.Context, event string, e OutboxEntry) error {
	bucket, shard := OutboxPlace(e.EventID, e.ConvID)
	err := st.query(ctx, cqlPutChangeOutbox, bucket, shard, e.EventID, e.MsgID, e.ConvID, e.SenderID, event, e.UserID).ExecRelease()
	return translate("put outbox row", err)
}

// addOutbox puts e's row into a batch.
func addOutbox(b *gocql.Batch, e OutboxEntry) { b.Query(cqlPutOutbox, outboxArgs(e)...) }

// ReadOutbox returns up to limit rows of one outbox partition after event
// id after, in id order.
func (st *Store) ReadOutbox(ctx context.Context, bucket int64, shard int, after int64, limit int) ([]OutboxEntry, error) {
	var es []OutboxEntry
	err := st.query(ctx, cqlReadOutbox, bucket, shard, after, limit).SelectRelease(&es)
	return es, translate("read outbox", err)
}

// Shard leases run at SERIAL: at LOCAL_SERIAL each data centre would work
// every shard, and every offline device would get each notice once per DC.
const (
	cqlClaimShard   = `INSERT INTO notify_shards (cluster, shard, lease, holder) VALUES (?, ?, true, ?) IF NOT EXISTS USING TTL ?`
	cqlRenewShard   = `UPDATE notify_shards USING TTL ? SET holder = ? WHERE cluster = ? AND shard = ? AND lease = true IF holder = ?`
	cqlReleaseShard = `DELETE FROM notify_shards WHERE cluster = ? AND shard = ? AND lease = true IF holder = ?`
	cqlShardCursor  = `SELECT cursor FROM notify_shards WHERE cluster = ? AND shard = ? AND lease = false`
	cqlShardHolders = `SELECT shard, holder FROM notify_shards WHERE cluster = ? AND shard IN ? AND lease = true`
	// Stamped with the cursor itself, so a slower, older holder's write can
	// never move it back.
	cqlSetShardCursor = `UPDATE notify_shards USING TIMESTAMP ? SET cursor = ? WHERE cluster = ? AND shard = ? AND lease = false`
)

// ClaimShard takes a shard's lease for ttl if nobody holds it. A claim
// whose first attempt was applied but timed out finds itself the holder:
// that is a win too.
func (st *Store) ClaimShard(ctx context.Context, cluster string, shard int, holder string, ttl time.Duration) (bool, error) {
	row := map[string]any{}
	ok, err := st.lwt(ctx, acrossDCs, cqlClaimShard, cluster, shard, holder, ttlSeconds(ttl)).MapScanCAS(row)
	if err == nil && !ok && row["holder"] == holder {
		ok = true
	}
	return ok, translate("claim notify shard", err)
}

// ShardHolders reads who holds each shard's lease (a plain read: it only
// says which shards are worth an LWT to claim).
func (st *Store) ShardHolders(ctx context.Context, cluster string) (map[int]string, error) {
	shards := make([]int, NotifyShards)
	for i := range shards {
		shards[i] = i
	}
	out := map[int]string{}
	iter := st.rawQuery(ctx, cqlShardHolders, cluster, shards).Iter()
	var shard int
	var holder string
	for iter.Scan(&shard, &holder) {
		out[shard] = holder
	}
	return out, translate("read notify shard holders", iter.Close())
}

// RenewShard extends holder's lease; false: it is not holder's any more.
func (st *Store) RenewShard(ctx context.Context, cluster string, shard int, holder string, ttl time.Duration) (bool, error) {
	ok, err := st.lwt(ctx, acrossDCs, cqlRenewShard, ttlSeconds(ttl), holder, cluster, shard, holder).MapScanCAS(map[string]any{})
	return ok, translate("renew notify shard", err)
}

// ReleaseShard gives a shard up (a node shutting down, or holding more than its share).
func (st *Store) ReleaseShard(ctx context.Context, cluster string, shard int, holder string) error {
	_, err := st.lwt(ctx, acrossDCs, cqlReleaseShard, cluster, shard, holder).MapScanCAS(map[string]any{})
	return translate("release notify shard", err)
}

// ShardCursor returns the first bucket of the shard not finished (0: none recorded).
func (st *Store) ShardCursor(ctx context.Context, cluster string, shard int) (int64, error) {
	var cursor *int64
	err := st.rawQuery(ctx, cqlShardCursor, cluster, shard).Scan(&cursor)
	if IsCode(translate("", err), CodeNotFound) || (err == nil && cursor == nil) {
		return 0, nil
	}
	if err != nil {
		return 0, translate("read notify cursor", err)
	}
	return *cursor, nil
}

// SetShardCursor records that every bucket before cursor is finished.
func (st *Store) SetShardCursor(ctx context.Context, cluster string, shard int, cursor int64) error {
	err := st.query(ctx, cqlSetShardCursor, cursor*1000, cursor, cluster, shard).ExecRelease()
	return translate("write notify cursor", err)
}

// DeadLetter is a notice given up on.
type DeadLetter struct {
	UserID, DeviceID, ConvID, MsgID int64
	Kind, Reason                    string
	Attempts                        int
	FailedAt                        time.Time
}

const cqlPutDeadLetter = `INSERT INTO notify_dead_letters (hour, shard, failed_at, user_id, device_id, conv_id, msg_id, kind, reason, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// PutDeadLetter records a notice given up on, for operators.
func (st *Store) PutDeadLetter(ctx context.Context, d DeadLetter) error {
	hour := int(d.FailedAt.Unix() / 3600)
	_, shard := OutboxPlace(0, d.ConvID)
	err := st.query(ctx, cqlPutDeadLetter, hour, shard, gocql.UUIDFromTime(d.FailedAt), d.UserID, d.DeviceID, d.ConvID, d.MsgID,
		d.Kind, d.Reason, d.Attempts).ExecRelease()
	return translate("put dead letter", err)
}
