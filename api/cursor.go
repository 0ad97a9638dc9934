package api

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Cursors are opaque to clients: base64url of "<kind>:<id>". The kind stops a
// history cursor from being replayed as a sync cursor and vice versa.

func encodeCursor(kind string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.FormatInt(id, 10)))
}

func decodeCursor(kind, s string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, invalid("malformed cursor")
	}
	k, v, ok := strings.Cut(string(raw), ":")
	if !ok || k != kind {
		return 0, invalid("cursor is not a %s cursor", kind)
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, invalid("malformed cursor")
	}
	return id, nil
}
