package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/chat"
)

func (s *Server) sendMessage(c echo.Context) error {
	return s.countedSend("rest", func() error { return s.sendMessageBody(c) })
}

func (s *Server) sendMessageBody(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	if err := s.app.ShedSend(); err != nil { // refused before the body is read
		return err
	}
	var req wire.SendRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	in, err := req.Input(convID)
	if err != nil {
		return err
	}
	res, err := s.app.Send(c.Request().Context(), session(c), in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	return c.JSON(status, map[string]any{"message": chat.MessageOut(res.Message)})
}

type historyResponse struct {
	Messages   []chat.MessageJSON `json:"messages"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// listMessages pages history: newest first from before= (or now), or oldest
// first from after=. cursor= continues either; a cursor remembers its direction.
func (s *Server) listMessages(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	limit, err := s.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	before, after, err := historyPosition(c)
	if err != nil {
		return err
	}
	page, err := s.app.History(c.Request().Context(), session(c), convID, chat.HistoryQuery{Before: before, After: after, Limit: limit})
	if err != nil {
		return err
	}
	resp := historyResponse{Messages: make([]chat.MessageJSON, 0, len(page.Messages))}
	for _, m := range page.Messages {
		resp.Messages = append(resp.Messages, chat.MessageOut(m))
	}
	if page.More {
		kind := "before"
		if after > 0 {
			kind = "after"
		}
		resp.NextCursor = encodeCursor(kind, page.Next)
	}
	return c.JSON(http.StatusOK, resp)
}

// historyPosition reads before=, after= (message ids) or cursor= (opaque).
func historyPosition(c echo.Context) (before, after int64, err error) {
	b, a, cur := c.QueryParam("before"), c.QueryParam("after"), c.QueryParam("cursor")
	set := 0
	for _, v := range []string{b, a, cur} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return 0, 0, invalid("give at most one of before, after and cursor")
	}
	switch {
	case b != "":
		before, err = parseID("before", b)
	case a != "":
		after, err = parseID("after", a)
	case cur != "":
		if before, err = decodeCursor("before", cur); err != nil {
			before = 0
			after, err = decodeCursor("after", cur)
		}
	}
	return before, after, err
}
