package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/presence"
)

// Presence answers presence queries (presence.Service).
type Presence interface {
	Query(ctx context.Context, userIDs []int64) ([]presence.Status, error)
}

func (s *Server) getPresence(c echo.Context) error {
	raw := c.QueryParam("user_ids")
	if raw == "" {
		return invalid("user_ids is required: comma-separated user ids")
	}
	parts := strings.Split(raw, ",")
	if len(parts) > presence.MaxQuery {
		return invalid("at most %d user_ids", presence.MaxQuery)
	}
	ids := make([]int64, 0, len(parts))
	for _, p := range parts {
		id, err := parseID("user_ids", strings.TrimSpace(p))
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	sts, err := s.presence.Query(c.Request().Context(), ids)
	if err != nil {
		return err
	}
	out := make([]presence.JSON, 0, len(sts))
	me := session(c).UserID
	for _, st := range sts {
		// Someone who blocks me shows as offline, never seen.
		if blocked, err := s.store.Blocks(c.Request().Context(), st.UserID, me); err != nil {
			return err
		} else if blocked {
			st = presence.Status{UserID: st.UserID}
		}
		out = append(out, presence.ToJSON(st))
	}
	return c.JSON(http.StatusOK, map[string]any{"presence": out})
}
