package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
)

func (s *Server) sendMessage(c echo.Context) error {
	return s.countedSend("rest", func() error { return s.sendMessageBody(c) })
}

func (s *Server) sendMessageBody(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	if s.sendGate.full() { // refused before the body is read
		return shedError()
	}
	var req sendRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	// As over a WebSocket: a send under way is not cancelled when the client
	// goes away, so it completes (and stays idempotent) instead of stopping
	// half-written; one still waiting for a slot leaves with the request.
	ctx := c.Request().Context()
	work, cancel := detached(ctx)
	defer cancel()
	msg, created, err := s.send(ctx, work, session(c), convID, req, nil)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, map[string]any{"message": messageOut(msg)})
}

type historyResponse struct {
	Messages   []messageJSON `json:"messages"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// listMessages pages history: newest first from before= (or now), or oldest
// first from after=. cursor= continues either; a cursor remembers its direction.
func (s *Server) listMessages(c echo.Context) error {
	convID, err := parseID("conversation id", c.Param("conv_id"))
	if err != nil {
		return err
	}
	limit, err := s.cfg.Limits.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	before, after, err := historyPosition(c)
	if err != nil {
		return err
	}
	// The membership check and the page read run at once (one round trip
	// less per page); the page is returned only once membership is proven.
	g, ctx := errgroup.WithContext(c.Request().Context())
	g.Go(func() error {
		_, err := s.store.Authorize(ctx, convID, session(c).UserID)
		return err
	})
	var page repo.HistoryPage
	kind := "before"
	if after > 0 {
		kind = "after"
	} else if ceiling := repo.NewestPossibleID(s.now()) + 1; before == 0 || before > ceiling {
		// From now, allowing for writers whose clocks run a little ahead. A
		// position past that holds nothing: starting there would only walk empty
		// buckets (and overflow near the int64 maximum).
		before = ceiling
	}
	g.Go(func() (err error) {
		if after > 0 {
			page, err = s.store.HistoryAfter(ctx, convID, after, limit, s.now())
		} else {
			page, err = s.store.HistoryBefore(ctx, convID, before, limit)
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return err
	}
	resp := historyResponse{Messages: make([]messageJSON, 0, len(page.Messages))}
	for _, m := range page.Messages {
		resp.Messages = append(resp.Messages, messageOut(m))
	}
	if page.More {
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

// detached is ctx without its cancellation but with its deadline (the
// request timeout) and values.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	work := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(work, deadline)
	}
	return context.WithCancel(work)
}
