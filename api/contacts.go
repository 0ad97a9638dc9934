package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/repo"
)

type contactJSON struct {
	User      userJSON  `json:"user"`
	State     string    `json:"state"`
	UpdatedAt time.Time `json:"updated_at"`
}

// otherUser reads the {user_id} path parameter: an existing user who is not the caller.
func (s *Server) otherUser(c echo.Context) (int64, error) {
	id, err := parseID("user_id", c.Param("user_id"))
	if err != nil {
		return 0, err
	}
	if id == session(c).UserID {
		return 0, invalid("that is you")
	}
	if _, err := s.store.GetUser(c.Request().Context(), id); err != nil {
		if repo.IsCode(err, repo.CodeNotFound) {
			return 0, repo.Errorf(repo.CodeNotFound, "user %d not found", id)
		}
		return 0, err
	}
	return id, nil
}

func (s *Server) putContact(c echo.Context) error {
	other, err := s.otherUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	me := session(c).UserID
	if err := s.app.BlockedBy(ctx, other, me); err != nil {
		return err
	}
	if mine, err := s.store.Blocks(ctx, me, other); err != nil {
		return err
	} else if mine {
		return repo.Errorf(repo.CodeConflict, "you block this user: unblock first")
	}
	state, err := s.store.ChangeContact(ctx, me, other, repo.ContactAdd, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"state": state})
}

func (s *Server) deleteContact(c echo.Context) error {
	other, err := s.otherUser(c)
	if err != nil {
		return err
	}
	if _, err := s.store.ChangeContact(c.Request().Context(), session(c).UserID, other, repo.ContactRemove, s.now()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listContacts(c echo.Context) error {
	limit, err := s.pageSize(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	want := c.QueryParam("state")
	switch want {
	case "", repo.ContactRequested, repo.ContactPending, repo.ContactAccepted:
	default:
		return invalid("state must be requested, pending or accepted")
	}
	var after int64
	if cur := c.QueryParam("cursor"); cur != "" {
		if after, err = decodeCursor("contacts", cur); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	me := session(c).UserID
	out := []contactJSON{}
	next := ""
	// Filtering by state skips rows, so read in bounded pages until the answer is full.
	for scanned := 0; len(out) < limit && scanned < 10*s.cfg.Limits.MaxPageSize; {
		rows, err := s.store.ListContacts(ctx, me, after, s.cfg.Limits.MaxPageSize)
		if err != nil {
			return err
		}
		for _, r := range rows {
			after = r.ContactID
			if want != "" && r.State != want {
				continue
			}
			u, err := s.store.GetUser(ctx, r.ContactID)
			if err != nil {
				return err
			}
			out = append(out, contactJSON{User: publicUser(u), State: r.State, UpdatedAt: r.UpdatedAt.UTC()})
			if len(out) == limit {
				break
			}
		}
		scanned += len(rows)
		if len(rows) < s.cfg.Limits.MaxPageSize {
			after = 0
			break
		}
	}
	if after != 0 {
		next = encodeCursor("contacts", after)
	}
	resp := map[string]any{"contacts": out}
	if next != "" {
		resp["next_cursor"] = next
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) putBlock(c echo.Context) error {
	other, err := s.otherUser(c)
	if err != nil {
		return err
	}
	me := session(c).UserID
	// One timestamp for the block's rows and flags (repo.Block says why),
	// and a deadline that bounds how long after it they land
	// (repo.BlockRecordLag relies on it).
	at := s.now()
	ctx := c.Request().Context()
	bctx, cancel := context.WithDeadline(ctx, at.Add(repo.BlockChangeBound))
	defer cancel()
	if err := s.writeBlock(bctx, me, other, at); err != nil {
		return err
	}
	// A block ends any contact relation or request between the two.
	if _, err := s.store.ChangeContact(ctx, me, other, repo.ContactRemove, s.now()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// writeBlock writes a block's flags and its blocks_by_user row at at.
func (s *Server) writeBlock(ctx context.Context, me, other int64, at time.Time) error {
	// The flag sends read first: a block that fails half-way blocks more,
	// not less, and a retry writes both.
	if err := s.setBlockFlag(ctx, me, other, true, at); err != nil {
		return err
	}
	if err := s.store.Block(ctx, me, other, at); err != nil {
		return err
	}
	// And again after: a direct conversation listed since the first found
	// none may have had a send read blocks_by_user before the block landed
	// and record "not blocked" on it, stamped BlockRecordLag before that
	// read, so earlier than at.
	return s.setBlockFlag(ctx, me, other, true, at)
}

func (s *Server) deleteBlock(c echo.Context) error {
	other, err := s.otherUser(c)
	if err != nil {
		return err
	}
	me := session(c).UserID
	at := s.now() // as putBlock
	ctx, cancel := context.WithDeadline(c.Request().Context(), at.Add(repo.BlockChangeBound))
	defer cancel()
	// blocks_by_user first: an unblock that fails half-way leaves the send
	// still refused (for at most the flag's TTL), never a listed block that
	// lets sends through.
	if err := s.store.Unblock(ctx, me, other, at); err != nil {
		return err
	}
	if err := s.setBlockFlag(ctx, me, other, false, at); err != nil {
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
	ctx := c.Request().Context()
	ids, err := s.store.ListBlocks(ctx, session(c).UserID, after, limit)
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, len(ids))
	for _, id := range ids {
		u, err := s.store.GetUser(ctx, id)
		if err != nil {
			return err
		}
		out = append(out, publicUser(u))
	}
	resp := map[string]any{"blocks": out}
	if len(ids) == limit {
		resp["next_cursor"] = encodeCursor("blocks", ids[len(ids)-1])
	}
	return c.JSON(http.StatusOK, resp)
}

// setBlockFlag writes whether me blocks other on me's row of their direct
// conversation, if they have one and it is listed (directPositions reads
// it). A row listed after this read has the flag null, and its sends read
// blocks_by_user.
func (s *Server) setBlockFlag(ctx context.Context, me, other int64, blocks bool, at time.Time) error {
	conv, err := s.store.DirectConversation(ctx, me, other)
	if repo.IsCode(err, repo.CodeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	pos, err := s.store.DirectPositions(ctx, conv, [2]int64{me, other})
	if err != nil {
		return err
	}
	return s.store.SetBlocksPeer(ctx, conv, pos[0], blocks, at)
}
