package api

import "strconv"

// parseID reads a Snowflake id sent as a decimal string, in its one canonical
// form (no sign, no leading zero), as the contract's ID pattern says.
func parseID(field, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] == '+' || s[0] == '0' {
		return 0, invalid("%s must be a positive integer id in a string", field)
	}
	return id, nil
}

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
