package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/presence"
)

// getPresence is chat.App.Presence over user_ids, comma-separated.
func (s *Server) getPresence(c echo.Context) error {
	var ids []int64
	if raw := c.QueryParam("user_ids"); raw != "" {
		parts := strings.Split(raw, ",")
		if len(parts) > presence.MaxQuery { // before parsing them all
			return invalid("at most %d user_ids", presence.MaxQuery)
		}
		for _, p := range parts {
			id, err := parseID("user_ids", strings.TrimSpace(p))
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
	}
	sts, err := s.app.Presence(c.Request().Context(), session(c), ids)
	if err != nil {
		return err
	}
	out := make([]presence.JSON, 0, len(sts))
	for _, st := range sts {
		out = append(out, presence.ToJSON(st))
	}
	return c.JSON(http.StatusOK, map[string]any{"presence": out})
}
