package chat

import (
	"context"
	"fmt"
	"mime"
	"slices"
	"strings"

	"github.com/ringchat/ringchat/repo"
)

// mediaTypes is the allow-list: common image, video, audio and document types.
var mediaTypes = []string{
	"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif",
	"video/mp4", "video/webm", "video/quicktime",
	"audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/webm", "audio/wav",
	"application/pdf", "text/plain", "application/zip",
	"application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"application/vnd.ms-powerpoint", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

// UploadInput declares an upload: its type, its exact size and what it is
// for ("" is message).
type UploadInput struct {
	ContentType string
	Size        int64
	Purpose     string
}

func errNoObjects() error {
	return repo.Errorf(repo.CodeUnavailable, "media storage is not configured on this server")
}

// CreateUpload records a pending upload of the caller and returns the URL
// the client puts the bytes to (UploadTTL): media bytes never pass chatd.
//
// Codes: invalid_argument (a type not allowed; no size; a purpose unknown,
// or an avatar or group photo that is not an image); too_large (over
// MaxBytes); unavailable (no object store, the id lease gone).
func (a *App) CreateUpload(ctx context.Context, me repo.Session, in UploadInput) (repo.Media, repo.Presigned, error) {
	if a.objects == nil {
		return repo.Media{}, repo.Presigned{}, errNoObjects()
	}
	ct, _, err := mime.ParseMediaType(in.ContentType)
	if err != nil || !slices.Contains(mediaTypes, ct) {
		return repo.Media{}, repo.Presigned{}, invalid("content_type %q is not allowed; allowed: %s", in.ContentType, strings.Join(mediaTypes, ", "))
	}
	if in.Size < 1 {
		return repo.Media{}, repo.Presigned{}, invalid("size must be the upload's length in bytes")
	}
	if in.Size > a.cfg.Media.MaxBytes {
		return repo.Media{}, repo.Presigned{}, tooLarge("size %d is over the %d-byte limit", in.Size, a.cfg.Media.MaxBytes)
	}
	switch in.Purpose {
	case "":
		in.Purpose = repo.PurposeMessage
	case repo.PurposeMessage:
	case repo.PurposeAvatar, repo.PurposeGroupPhoto:
		if !strings.HasPrefix(ct, "image/") {
			return repo.Media{}, repo.Presigned{}, invalid("an %s must be an image", in.Purpose)
		}
	default:
		return repo.Media{}, repo.Presigned{}, invalid("purpose must be message, avatar or group_photo")
	}
	id, err := a.newID()
	if err != nil {
		return repo.Media{}, repo.Presigned{}, err
	}
	m := repo.Media{ID: id, OwnerID: me.UserID, ObjectKey: fmt.Sprintf("media/%d/%d", me.UserID, id), ContentType: ct,
		Size: in.Size, Purpose: in.Purpose, State: repo.MediaPending, CreatedAt: a.now()}
	put, err := a.objects.PresignPut(ctx, m.ObjectKey, ct, m.Size, a.cfg.Media.UploadTTL)
	if err != nil {
		return repo.Media{}, repo.Presigned{}, err
	}
	if err := a.store.CreateMedia(ctx, m); err != nil {
		return repo.Media{}, repo.Presigned{}, err
	}
	return m, put, nil
}

// CompleteUpload checks the stored object against the declaration: a match
// makes the media ready (again: ready stays ready); anything else is refused
// and the object deleted, for the client to upload again.
//
// Codes: invalid_argument (nothing uploaded; a mismatch); permission_denied
// (not the caller's); not_found (no such media); unavailable (no object store).
func (a *App) CompleteUpload(ctx context.Context, me repo.Session, mediaID int64) (repo.Media, error) {
	m, err := a.ownMedia(ctx, me, mediaID)
	if err != nil || m.State == repo.MediaReady {
		return m, err
	}
	obj, err := a.objects.Head(ctx, m.ObjectKey)
	if repo.IsCode(err, repo.CodeNotFound) {
		return repo.Media{}, invalid("nothing was uploaded for media %d yet", m.ID)
	}
	if err != nil {
		return repo.Media{}, err
	}
	gotType, _, _ := mime.ParseMediaType(obj.ContentType)
	if obj.Size != m.Size || gotType != m.ContentType {
		if err := a.objects.Delete(ctx, m.ObjectKey); err != nil {
			return repo.Media{}, err
		}
		return repo.Media{}, invalid("stored object (%d bytes, %q) does not match the declaration (%d bytes, %q); it was deleted: upload again",
			obj.Size, obj.ContentType, m.Size, m.ContentType)
	}
	return a.store.MarkMediaReady(ctx, m, a.now())
}

func (a *App) ownMedia(ctx context.Context, me repo.Session, id int64) (repo.Media, error) {
	if a.objects == nil {
		return repo.Media{}, errNoObjects()
	}
	m, err := a.store.GetMedia(ctx, id)
	if err != nil {
		return repo.Media{}, err
	}
	if m.OwnerID != me.UserID {
		return repo.Media{}, repo.Errorf(repo.CodePermissionDenied, "not your media")
	}
	return m, nil
}

// Media returns a media item and a short-lived download URL (DownloadTTL) to
// those allowed to see it: the owner, anyone for avatars and group photos,
// and members of a conversation it was sent into while the message that
// carried it is not recalled.
//
// Codes: not_found (no such media, or not ready and not the caller's);
// permission_denied (none of the above); unavailable (no object store).
func (a *App) Media(ctx context.Context, me repo.Session, mediaID int64) (repo.Media, repo.Presigned, error) {
	if a.objects == nil {
		return repo.Media{}, repo.Presigned{}, errNoObjects()
	}
	m, err := a.store.GetMedia(ctx, mediaID)
	if err != nil {
		return repo.Media{}, repo.Presigned{}, err
	}
	if m.State != repo.MediaReady && m.OwnerID != me.UserID {
		return repo.Media{}, repo.Presigned{}, repo.Errorf(repo.CodeNotFound, "media not found")
	}
	if err := a.mayDownload(ctx, m, me.UserID); err != nil {
		return repo.Media{}, repo.Presigned{}, err
	}
	get, err := a.objects.PresignGet(ctx, m.ObjectKey, a.cfg.Media.DownloadTTL)
	if err != nil {
		return repo.Media{}, repo.Presigned{}, err
	}
	return m, get, nil
}

// mayDownload: the owner, anyone for public media, and a member of a
// conversation the item was sent into, while the message that carried it is
// not recalled (so a recall withdraws the media even from a grant a racing
// retry wrote back).
func (a *App) mayDownload(ctx context.Context, m repo.Media, me int64) error {
	if m.OwnerID == me || m.Public() {
		return nil
	}
	grants, err := a.store.MediaGrants(ctx, m.ID)
	if err != nil {
		return err
	}
	for _, g := range grants {
		ok, err := a.grantHolds(ctx, g, me)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return repo.Errorf(repo.CodePermissionDenied, "you may not see this media")
}

// grantHolds reports whether me is a member of the grant's conversation and
// its message (when the grant names one) is there and not recalled.
func (a *App) grantHolds(ctx context.Context, g repo.MediaGrant, me int64) (bool, error) {
	if _, err := a.store.GetMember(ctx, g.ConvID, me); repo.IsCode(err, repo.CodeNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if g.MsgID == 0 {
		return true, nil
	}
	msg, err := a.store.GetMessage(ctx, g.ConvID, g.MsgID)
	if repo.IsCode(err, repo.CodeNotFound) {
		return false, nil // granted ahead of a message that is not written (yet)
	}
	return err == nil && !msg.Recalled, err
}
