package api

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

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

type mediaJSON struct {
	ID          string     `json:"id"`
	ContentType string     `json:"content_type"`
	Size        int64      `json:"size"`
	Purpose     string     `json:"purpose"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ReadyAt     *time.Time `json:"ready_at"`
}

func mediaOut(m repo.Media) mediaJSON {
	return mediaJSON{ID: idStr(m.ID), ContentType: m.ContentType, Size: m.Size, Purpose: m.Purpose,
		State: m.State, CreatedAt: m.CreatedAt.UTC(), ReadyAt: optTime(m.ReadyAt)}
}

type createMediaRequest struct {
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Purpose     string `json:"purpose"`
}

func (s *Server) createMedia(c echo.Context) error {
	if s.objects == nil {
		return repo.Errorf(repo.CodeUnavailable, "media storage is not configured on this server")
	}
	var req createMediaRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	ct, _, err := mime.ParseMediaType(req.ContentType)
	if err != nil || !slices.Contains(mediaTypes, ct) {
		return invalid("content_type %q is not allowed; allowed: %s", req.ContentType, strings.Join(mediaTypes, ", "))
	}
	if req.Size < 1 {
		return invalid("size must be the upload's length in bytes")
	}
	if req.Size > s.cfg.Media.MaxBytes {
		return tooLarge("size %d is over the %d-byte limit", req.Size, s.cfg.Media.MaxBytes)
	}
	switch req.Purpose {
	case "":
		req.Purpose = repo.PurposeMessage
	case repo.PurposeMessage:
	case repo.PurposeAvatar, repo.PurposeGroupPhoto:
		if !strings.HasPrefix(ct, "image/") {
			return invalid("an %s must be an image", req.Purpose)
		}
	default:
		return invalid("purpose must be message, avatar or group_photo")
	}
	me := session(c).UserID
	id, err := s.app.NewID()
	if err != nil {
		return err
	}
	m := repo.Media{ID: id, OwnerID: me, ObjectKey: fmt.Sprintf("media/%d/%d", me, id), ContentType: ct,
		Size: req.Size, Purpose: req.Purpose, State: repo.MediaPending, CreatedAt: s.now()}
	ctx := c.Request().Context()
	put, err := s.objects.PresignPut(ctx, m.ObjectKey, ct, m.Size, s.cfg.Media.UploadTTL)
	if err != nil {
		return err
	}
	if err := s.store.CreateMedia(ctx, m); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"media_id": idStr(id), "upload_url": put.URL,
		"upload_method": "PUT", "upload_headers": put.Headers, "expires_at": put.Expires, "media": mediaOut(m)})
}

// completeMedia checks the stored object against the declaration: a match
// makes the media ready; anything else is refused and the object deleted.
func (s *Server) completeMedia(c echo.Context) error {
	m, err := s.ownMedia(c)
	if err != nil {
		return err
	}
	if m.State == repo.MediaReady {
		return c.JSON(http.StatusOK, map[string]any{"media": mediaOut(m)})
	}
	ctx := c.Request().Context()
	obj, err := s.objects.Head(ctx, m.ObjectKey)
	if repo.IsCode(err, repo.CodeNotFound) {
		return invalid("nothing was uploaded for media %d yet", m.ID)
	}
	if err != nil {
		return err
	}
	gotType, _, _ := mime.ParseMediaType(obj.ContentType)
	if obj.Size != m.Size || gotType != m.ContentType {
		if err := s.objects.Delete(ctx, m.ObjectKey); err != nil {
			return err
		}
		return invalid("stored object (%d bytes, %q) does not match the declaration (%d bytes, %q); it was deleted: upload again",
			obj.Size, obj.ContentType, m.Size, m.ContentType)
	}
	m, err = s.store.MarkMediaReady(ctx, m, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"media": mediaOut(m)})
}

func (s *Server) ownMedia(c echo.Context) (repo.Media, error) {
	if s.objects == nil {
		return repo.Media{}, repo.Errorf(repo.CodeUnavailable, "media storage is not configured on this server")
	}
	id, err := parseID("media id", c.Param("media_id"))
	if err != nil {
		return repo.Media{}, err
	}
	m, err := s.store.GetMedia(c.Request().Context(), id)
	if err != nil {
		return repo.Media{}, err
	}
	if m.OwnerID != session(c).UserID {
		return repo.Media{}, repo.Errorf(repo.CodePermissionDenied, "not your media")
	}
	return m, nil
}

// getMedia returns a short-lived download URL to those allowed to see it: the
// owner, anyone for avatars and group photos, and members of a conversation
// the media was sent into.
func (s *Server) getMedia(c echo.Context) error {
	if s.objects == nil {
		return repo.Errorf(repo.CodeUnavailable, "media storage is not configured on this server")
	}
	id, err := parseID("media id", c.Param("media_id"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m, err := s.store.GetMedia(ctx, id)
	if err != nil {
		return err
	}
	me := session(c).UserID
	if m.State != repo.MediaReady && m.OwnerID != me {
		return repo.Errorf(repo.CodeNotFound, "media not found")
	}
	if err := s.mayDownload(ctx, m, me); err != nil {
		return err
	}
	get, err := s.objects.PresignGet(ctx, m.ObjectKey, s.cfg.Media.DownloadTTL)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"media": mediaOut(m), "download_url": get.URL, "expires_at": get.Expires})
}

// mayDownload: the owner, anyone for public media, and a member of a
// conversation the item was sent into, while the message that carried it is
// not recalled (so a recall withdraws the media even from a grant a racing
// retry wrote back).
func (s *Server) mayDownload(ctx context.Context, m repo.Media, me int64) error {
	if m.OwnerID == me || m.Public() {
		return nil
	}
	grants, err := s.store.MediaGrants(ctx, m.ID)
	if err != nil {
		return err
	}
	for _, g := range grants {
		ok, err := s.grantHolds(ctx, g, me)
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
func (s *Server) grantHolds(ctx context.Context, g repo.MediaGrant, me int64) (bool, error) {
	if _, err := s.store.GetMember(ctx, g.ConvID, me); repo.IsCode(err, repo.CodeNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if g.MsgID == 0 {
		return true, nil
	}
	msg, err := s.store.GetMessage(ctx, g.ConvID, g.MsgID)
	if repo.IsCode(err, repo.CodeNotFound) {
		return false, nil // granted ahead of a message that is not written (yet)
	}
	return err == nil && !msg.Recalled, err
}
