package api

import (
	"strconv"

	"github.com/ringchat/ringchat/api/wire"
)

// parseID is wire.ParseID: one id form for both doors.
func parseID(field, s string) (int64, error) { return wire.ParseID(field, s) }

// pageSize reads limit=: the configured page when absent, at most the cap.
func (s *Server) pageSize(v string) (int, error) {
	l := s.cfg.Limits
	if v == "" {
		return l.PageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > l.MaxPageSize {
		return 0, invalid("limit must be between 1 and %d", l.MaxPageSize)
	}
	return n, nil
}
