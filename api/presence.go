package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/presence"
)

// visibilityParallelism bounds the rule's point reads of one query.
const visibilityParallelism = 16

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
	ctx := c.Request().Context()
	me := session(c).UserID
	visible := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(visibilityParallelism)
	for i, id := range ids {
		g.Go(func() (err error) {
			visible[i], err = s.presence.Visible(gctx, me, id)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var shown []int64
	for i, id := range ids {
		if visible[i] {
			shown = append(shown, id)
		}
	}
	statuses := map[int64]presence.Status{}
	if len(shown) > 0 {
		sts, err := s.presence.Query(ctx, shown)
		if err != nil {
			return err
		}
		for _, st := range sts {
			statuses[st.UserID] = st
		}
	}
	// Someone whose presence I may not see shows as offline, never seen: the
	// same answer as for a user who never connected, so it reveals nothing.
	out := make([]presence.JSON, 0, len(ids))
	for _, id := range ids {
		st, ok := statuses[id]
		if !ok {
			st = presence.Status{UserID: id}
		}
		out = append(out, presence.ToJSON(st))
	}
	return c.JSON(http.StatusOK, map[string]any{"presence": out})
}
