package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
	var cursor repo.SyncCursor
	if cur := c.QueryParam("cursor"); cur != "" {
		if cursor, err = decodeSyncCursor(cur); err != nil {
			return err
		}
	} else {
		// No cursor: start from now. Starting at the safe point (not at now) means
		// events of the last SyncLag come with the next call rather than never.
		cursor.At = safe
	}
	// While the local DC catches up, ctx reads across DCs (Server.timeout),
	// so a cursor handed out now passes no write it missed (repo.CatchUp).
	ctx := c.Request().Context()
	gen, _ := c.Get(catchUpGenKey).(uint64)
	page, err := s.store.Sync(ctx, session(c).UserID, cursor, limit, safe, now, renderMessage)
	if err != nil {
		return err
	}
	if page.Events, err = s.completeEvents(ctx, page.Events); err != nil {
		return err
	}
	if s.catchUp.Changed(gen) {
		// A local node came back while this ran: it may have read that
		// replica at the consistency it began with. The retry reads across DCs.
		return repo.Errorf(repo.CodeUnavailable, "the data centre is catching up: retry the sync")
	}
	resp := syncResponse{Events: make([]eventJSON, 0, len(page.Events)), Cursor: encodeSyncCursor(page.Cursor),
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
