package repo

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/snowflake"
)

// Media states and purposes.
const (
	MediaPending = "pending"
	MediaReady   = "ready"

	PurposeMessage    = "message"
	PurposeAvatar     = "avatar"
	PurposeGroupPhoto = "group_photo"
)

// Media is one uploaded object.
type Media struct {
	ID          int64     `db:"media_id"`
	OwnerID     int64     `db:"owner_id"`
	ObjectKey   string    `db:"object_key"`
	ContentType string    `db:"content_type"`
	Size        int64     `db:"size"`
	Purpose     string    `db:"purpose"`
	State       string    `db:"state"`
	CreatedAt   time.Time `db:"created_at"`
	ReadyAt     time.Time `db:"ready_at"`
}

// Public reports whether any signed-in user may download it (avatars, group photos).
func (m Media) Public() bool { return m.Purpose == PurposeAvatar || m.Purpose == PurposeGroupPhoto }

const (
	cqlInsertMedia       = `INSERT INTO media (media_id, owner_id, object_key, content_type, size, purpose, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`
	cqlReadyMedia        = `INSERT INTO media (media_id, owner_id, object_key, content_type, size, purpose, state, created_at, ready_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	cqlGetMedia          = `SELECT media_id, owner_id, object_key, content_type, size, purpose, state, created_at, ready_at FROM media WHERE media_id = ?`
	cqlGrantMedia        = `INSERT INTO media_grants_by_message (media_id, conv_id, msg_id) VALUES (?, ?, ?)`
	cqlMediaGrants       = `SELECT conv_id, msg_id FROM media_grants_by_message WHERE media_id = ? LIMIT 1000`
	cqlRevokeMedia       = `DELETE FROM media_grants_by_message WHERE media_id = ? AND conv_id = ? AND msg_id = ?`
	cqlLegacyGrants      = `SELECT conv_id FROM media_grants WHERE media_id = ? LIMIT 1000`
	cqlRevokeLegacyMedia = `DELETE FROM media_grants WHERE media_id = ? AND conv_id = ?`
)

// pendingMediaTTL: an upload never completed is forgotten after a day.
const pendingMediaTTL = 24 * time.Hour

// CreateMedia records a pending upload, and indexes it by owner (v0019) first,
// so no media row exists that a deletion of its owner cannot find.
func (st *Store) CreateMedia(ctx context.Context, m Media) error {
	if err := st.indexMedia(ctx, m, ttlSeconds(pendingMediaTTL)); err != nil {
		return err
	}
	err := st.query(ctx, cqlInsertMedia, m.ID, m.OwnerID, m.ObjectKey, m.ContentType, m.Size, m.Purpose,
		MediaPending, m.CreatedAt, ttlSeconds(pendingMediaTTL)).ExecRelease()
	return translate("insert media", err)
}

// MarkMediaReady rewrites every column without a TTL, so a ready item never
// expires (its owner index row too).
func (st *Store) MarkMediaReady(ctx context.Context, m Media, at time.Time) (Media, error) {
	if err := st.indexMedia(ctx, m, 0); err != nil {
		return m, err
	}
	m.State, m.ReadyAt = MediaReady, at
	err := st.query(ctx, cqlReadyMedia, m.ID, m.OwnerID, m.ObjectKey, m.ContentType, m.Size, m.Purpose,
		m.State, m.CreatedAt, m.ReadyAt).ExecRelease()
	return m, translate("mark media ready", err)
}

const (
	cqlIndexMedia   = `INSERT INTO media_by_owner (owner_id, bucket, media_id) VALUES (?, ?, ?) USING TTL ?`
	cqlOwnerMedia   = `SELECT media_id FROM media_by_owner WHERE owner_id = ? AND bucket = ? AND media_id > ? LIMIT ?`
	cqlDeleteMedia  = `DELETE FROM media WHERE media_id = ?`
	cqlUnindexMedia = `DELETE FROM media_by_owner WHERE owner_id = ? AND bucket = ? AND media_id = ?`
)

// mediaBucketDays is the width of a media_by_owner partition.
const mediaBucketDays = 30

// MediaBucket is the media_by_owner bucket of a media id.
func MediaBucket(mediaID int64) int {
	return int(snowflake.Time(mediaID).Unix() / (mediaBucketDays * 86400))
}

// MediaBuckets lists the buckets of uploads made between from and to.
func MediaBuckets(from, to time.Time) []int {
	var out []int
	for b := int(from.Unix() / (mediaBucketDays * 86400)); b <= int(to.Unix()/(mediaBucketDays*86400)); b++ {
		out = append(out, b)
	}
	return out
}

func (st *Store) indexMedia(ctx context.Context, m Media, ttl int) error {
	err := st.query(ctx, cqlIndexMedia, m.OwnerID, MediaBucket(m.ID), m.ID, ttl).ExecRelease()
	return translate("index media", err)
}

// OwnerMedia is a page of the media ids owner uploaded in one bucket, after after.
func (st *Store) OwnerMedia(ctx context.Context, owner int64, bucket int, after int64, limit int) ([]int64, error) {
	var ids []int64
	err := st.query(ctx, cqlOwnerMedia, owner, bucket, after, limit).SelectRelease(&ids)
	return ids, translate("list owner media", err)
}

// DeleteMedia forgets a media item (its object is deleted first, by the caller).
func (st *Store) DeleteMedia(ctx context.Context, owner, mediaID int64) error {
	if err := st.query(ctx, cqlDeleteMedia, mediaID).ExecRelease(); err != nil {
		return translate("delete media", err)
	}
	return translate("unindex media", st.query(ctx, cqlUnindexMedia, owner, MediaBucket(mediaID), mediaID).ExecRelease())
}

// GetMedia returns one media item or CodeNotFound.
func (st *Store) GetMedia(ctx context.Context, id int64) (Media, error) {
	var m Media
	if err := st.query(ctx, cqlGetMedia, id).GetRelease(&m); err != nil {
		return Media{}, translate("get media", err)
	}
	return m, nil
}

// MediaGrant is a message that carried a media item into a conversation.
// MsgID is 0 for grants recorded before v0009, which name no message.
type MediaGrant struct {
	ConvID int64 `db:"conv_id"`
	MsgID  int64 `db:"msg_id"`
}

// GrantMedia records that message msgID carries media into a conversation.
func (st *Store) GrantMedia(ctx context.Context, mediaID, convID, msgID int64) error {
	return translate("grant media", st.query(ctx, cqlGrantMedia, mediaID, convID, msgID).ExecRelease())
}

// RevokeMedia forgets that message msgID carried media into a conversation,
// with any grant of the item there that names no message.
func (st *Store) RevokeMedia(ctx context.Context, mediaID, convID, msgID int64) error {
	if err := st.query(ctx, cqlRevokeMedia, mediaID, convID, msgID).ExecRelease(); err != nil {
		return translate("revoke media", err)
	}
	return translate("revoke legacy media grant", st.query(ctx, cqlRevokeLegacyMedia, mediaID, convID).ExecRelease())
}

// MediaGrants lists the messages media was sent in (at most 1,000), then the
// older grants that name no message (at most 1,000).
func (st *Store) MediaGrants(ctx context.Context, mediaID int64) ([]MediaGrant, error) {
	var grants []MediaGrant
	if err := st.query(ctx, cqlMediaGrants, mediaID).SelectRelease(&grants); err != nil {
		return nil, translate("list media grants", err)
	}
	var legacy []int64
	if err := st.query(ctx, cqlLegacyGrants, mediaID).SelectRelease(&legacy); err != nil {
		return nil, translate("list legacy media grants", err)
	}
	for _, conv := range legacy {
		grants = append(grants, MediaGrant{ConvID: conv})
	}
	return grants, nil
}

// Object is what a HEAD of a stored object tells (repo/objstore).
type Object struct {
	Size        int64
	ContentType string
}

// Presigned is a URL a client uses directly, with the headers it must send.
type Presigned struct {
	URL     string
	Headers map[string]string
	Expires time.Time
}
