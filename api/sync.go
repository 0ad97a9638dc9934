package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
)

type syncResponse struct {
	Events  []eventJSON `json:"events"`
	Cursor  string      `json:"cursor"`
	HasMore bool        `json:"has_more"`
	// Reset is true when the cursor was older than inbox retention: some events
	// expired; the client should reload conversations from history.
	Reset bool `json:"reset,omitempty"`
}

func (s *Server) sync(c echo.Context) error {
	limit, err := s.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	var cursor *repo.SyncCursor
	if cur := c.QueryParam("cursor"); cur != "" {
		decoded, err := decodeSyncCursor(cur)
		if err != nil {
			return err
		}
		cursor = &decoded
	}
	page, err := s.app.Sync(c.Request().Context(), session(c), cursor, limit)
	if err != nil {
		return err
	}
	resp := syncResponse{Events: make([]eventJSON, 0, len(page.Events)), Cursor: encodeSyncCursor(page.Cursor),
		HasMore: page.HasMore, Reset: page.Reset}
	for _, e := range page.Events {
		resp.Events = append(resp.Events, eventOut(e))
	}
	return c.JSON(http.StatusOK, resp)
}

// A sync cursor is "sync:<at>" between rounds, and
// "sync:<at>:<pull_after>:<within>:<upper>" inside a round that spans several
// calls (repo.SyncCursor).
func encodeSyncCursor(c repo.SyncCursor) string {
	if c.Upper == 0 {
		return encodeCursor("sync", c.At)
	}
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "sync:%d:%d:%d:%d", c.At, c.PullAfter, c.Within, c.Upper))
}

func decodeSyncCursor(s string) (repo.SyncCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return repo.SyncCursor{}, invalid("malformed cursor")
	}
	parts := strings.Split(string(raw), ":")
	if parts[0] != "sync" {
		return repo.SyncCursor{}, invalid("cursor is not a sync cursor")
	}
	if len(parts) == 2 {
		at, err := decodeCursor("sync", s)
		return repo.SyncCursor{At: at}, err
	}
	var v [4]int64
	if len(parts) != 5 {
		return repo.SyncCursor{}, invalid("malformed cursor")
	}
	for i, p := range parts[1:] {
		if v[i], err = strconv.ParseInt(p, 10, 64); err != nil || v[i] < 0 {
			return repo.SyncCursor{}, invalid("malformed cursor")
		}
	}
	if v[3] <= 0 || v[3] < v[0] || v[2] > v[3] {
		return repo.SyncCursor{}, invalid("malformed cursor")
	}
	return repo.SyncCursor{At: v[0], PullAfter: v[1], Within: v[2], Upper: v[3]}, nil
}
