package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

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
	return mediaJSON{ID: chat.IDString(m.ID), ContentType: m.ContentType, Size: m.Size, Purpose: m.Purpose,
		State: m.State, CreatedAt: m.CreatedAt.UTC(), ReadyAt: chat.TimeOrNull(m.ReadyAt)}
}

type createMediaRequest struct {
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Purpose     string `json:"purpose"`
}

// mediaPath reads a media route's id.
func mediaPath(c echo.Context) (int64, error) {
	return parseID("media id", c.Param("media_id"))
}

// createMedia is chat.App.CreateUpload: a presigned PUT for the bytes.
func (s *Server) createMedia(c echo.Context) error {
	var req createMediaRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	m, put, err := s.app.CreateUpload(c.Request().Context(), session(c), chat.UploadInput(req))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"media_id": chat.IDString(m.ID), "upload_url": put.URL,
		"upload_method": "PUT", "upload_headers": put.Headers, "expires_at": put.Expires, "media": mediaOut(m)})
}

// completeMedia is chat.App.CompleteUpload.
func (s *Server) completeMedia(c echo.Context) error {
	id, err := mediaPath(c)
	if err != nil {
		return err
	}
	m, err := s.app.CompleteUpload(c.Request().Context(), session(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"media": mediaOut(m)})
}

// getMedia is chat.App.Media: a short-lived download URL for those allowed.
func (s *Server) getMedia(c echo.Context) error {
	id, err := mediaPath(c)
	if err != nil {
		return err
	}
	m, get, err := s.app.Media(c.Request().Context(), session(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"media": mediaOut(m), "download_url": get.URL, "expires_at": get.Expires})
}
