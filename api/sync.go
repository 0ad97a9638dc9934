package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

type syncResponse struct {
	Events  []eventJSON `json:"events"`
	Cursor  string      `json:"cursor"`
	HasMore bool        `json:"has_more"`
	// Reset is true when the cursor was older than inbox retention: some events
	// expired; the client should reload conversations from history.
	Reset bool `json:"reset,omitempty"`
}

// safePoint is the id below which every send has finished writing (or failed):
// ids are made before writing and a send must finish within SendDeadline.
func (s *Server) safePoint(now time.Time) int64 {
	return snowflake.MinIDAt(now.Add(-s.cfg.SyncLag))
}

func (s *Server) sync(c echo.Context) error {
	limit, err := s.cfg.Limits.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	now := s.now()
	safe := s.safePoint(now)
	var cursor int64
	if cur := c.QueryParam("cursor"); cur != "" {
		if cursor, err = decodeCursor("sync", cur); err != nil {
			return err
		}
	} else {
		// No cursor: start from now. Starting at the safe point (not at now) means
		// events of the last SyncLag come with the next call rather than never.
		cursor = safe
	}
	page, err := s.store.Sync(c.Request().Context(), session(c).UserID, cursor, limit, safe, now, renderMessage)
	if err != nil {
		return err
	}
	if err := s.withdrawRecalled(c.Request().Context(), page.Events); err != nil {
		return err
	}
	resp := syncResponse{Events: make([]eventJSON, 0, len(page.Events)), Cursor: encodeCursor("sync", page.Cursor),
		HasMore: page.HasMore, Reset: page.Reset}
	for _, e := range page.Events {
		resp.Events = append(resp.Events, eventOut(e))
	}
	return c.JSON(http.StatusOK, resp)
}

func renderMessage(m repo.Message) string {
	b, _ := json.Marshal(messageOut(m))
	return string(b)
}
