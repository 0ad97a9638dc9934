package repo

import (
	"context"
	"time"
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
	cqlInsertMedia = `INSERT INTO media (media_id, owner_id, object_key, content_type, size, purpose, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`
	cqlReadyMedia  = `INSERT INTO media (media_id, owner_id, object_key, content_type, size, purpose, state, created_at, ready_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	cqlGetMedia    = `SELECT media_id, owner_id, object_key, content_type, size, purpose, state, created_at, ready_at FROM media WHERE media_id = ?`
	cqlGrantMedia  = `INSERT INTO media_grants (media_id, conv_id) VALUES (?, ?)`
	cqlMediaGrants = `SELECT conv_id FROM media_grants WHERE media_id = ? LIMIT 1000`
)

// pendingMediaTTL: an upload never completed is forgotten after a day.
const pendingMediaTTL = 24 * time.Hour

// CreateMedia records a pending upload.
func (st *Store) CreateMedia(ctx context.Context, m Media) error {
	err := st.query(ctx, cqlInsertMedia, m.ID, m.OwnerID, m.ObjectKey, m.ContentType, m.Size, m.Purpose,
		MediaPending, m.CreatedAt, ttlSeconds(pendingMediaTTL)).ExecRelease()
	return translate("insert media", err)
}

// MarkMediaReady rewrites every column without a TTL, so a ready item never expires.
func (st *Store) MarkMediaReady(ctx context.Context, m Media, at time.Time) (Media, error) {
	m.State, m.ReadyAt = MediaReady, at
	err := st.query(ctx, cqlReadyMedia, m.ID, m.OwnerID, m.ObjectKey, m.ContentType, m.Size, m.Purpose,
		m.State, m.CreatedAt, m.ReadyAt).ExecRelease()
	return m, translate("mark media ready", err)
}

// GetMedia returns one media item or CodeNotFound.
func (st *Store) GetMedia(ctx context.Context, id int64) (Media, error) {
	var m Media
	if err := st.query(ctx, cqlGetMedia, id).GetRelease(&m); err != nil {
		return Media{}, translate("get media", err)
	}
	return m, nil
}

// GrantMedia records that media was sent into a conversation.
func (st *Store) GrantMedia(ctx context.Context, mediaID, convID int64) error {
	return translate("grant media", st.query(ctx, cqlGrantMedia, mediaID, convID).ExecRelease())
}

// MediaConversations lists the conversations media was sent into (at most 1,000).
func (st *Store) MediaConversations(ctx context.Context, mediaID int64) ([]int64, error) {
	var ids []int64
	err := st.query(ctx, cqlMediaGrants, mediaID).SelectRelease(&ids)
	return ids, translate("list media grants", err)
}
