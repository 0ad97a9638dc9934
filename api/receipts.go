package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

type readRequest struct {
	UpTo string `json:"up_to"`
}

func (s *Server) postRead(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	var req readRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	upTo, err := parseID("up_to", req.UpTo)
	if err != nil {
		return err
	}
	if err := s.app.MarkReceipt(c.Request().Context(), session(c), convID, upTo, repo.Read); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// getReceipts lists who has a message delivered and read (chat.App.Receipts).
func (s *Server) getReceipts(c echo.Context) error {
	convID, msgID, err := messagePath(c)
	if err != nil {
		return err
	}
	r, err := s.app.Receipts(c.Request().Context(), session(c), convID, msgID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"delivered": idStrs(r.Delivered), "read": idStrs(r.Read),
		"delivered_count": len(r.Delivered), "read_count": len(r.Read), "recipients": r.Recipients})
}

func idStrs(ids []int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = chat.IDString(id)
	}
	return out
}
