package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

type contactJSON struct {
	User      userJSON  `json:"user"`
	State     string    `json:"state"`
	UpdatedAt time.Time `json:"updated_at"`
}

// userPath reads the {user_id} path parameter.
func userPath(c echo.Context) (int64, error) {
	return parseID("user_id", c.Param("user_id"))
}

func (s *Server) putContact(c echo.Context) error {
	other, err := userPath(c)
	if err != nil {
		return err
	}
	state, err := s.app.PutContact(c.Request().Context(), session(c), other)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"state": state})
}

func (s *Server) deleteContact(c echo.Context) error {
	other, err := userPath(c)
	if err != nil {
		return err
	}
	if err := s.app.DeleteContact(c.Request().Context(), session(c), other); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listContacts(c echo.Context) error {
	limit, err := s.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	var after int64
	if cur := c.QueryParam("cursor"); cur != "" {
		if after, err = decodeCursor("contacts", cur); err != nil {
			return err
		}
	}
	contacts, next, err := s.app.Contacts(c.Request().Context(), session(c), c.QueryParam("state"), after, limit)
	if err != nil {
		return err
	}
	out := make([]contactJSON, 0, len(contacts))
	for _, k := range contacts {
		out = append(out, contactJSON{User: publicUser(k.User), State: k.State, UpdatedAt: k.UpdatedAt.UTC()})
	}
	resp := map[string]any{"contacts": out}
	if next != 0 {
		resp["next_cursor"] = encodeCursor("contacts", next)
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) putBlock(c echo.Context) error {
	other, err := userPath(c)
	if err != nil {
		return err
	}
	if err := s.app.Block(c.Request().Context(), session(c), other); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) deleteBlock(c echo.Context) error {
	other, err := userPath(c)
	if err != nil {
		return err
	}
	if err := s.app.Unblock(c.Request().Context(), session(c), other); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listBlocks(c echo.Context) error {
	limit, err := s.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	var after int64
	if cur := c.QueryParam("cursor"); cur != "" {
		if after, err = decodeCursor("blocks", cur); err != nil {
			return err
		}
	}
	users, err := s.app.Blocks(c.Request().Context(), session(c), after, limit)
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, publicUser(u))
	}
	resp := map[string]any{"blocks": out}
	if len(users) == limit {
		resp["next_cursor"] = encodeCursor("blocks", users[len(users)-1].ID)
	}
	return c.JSON(http.StatusOK, resp)
}
