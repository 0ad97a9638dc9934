package api

import (
	"sort"
)

// FrameTypes lists the client frame types the socket dispatches (tests only).
func FrameTypes() []string {
	types := make([]string, 0, len(frameHandlers))
	for t := range frameHandlers {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// DerivedMessageID is the message id a UUIDv7 send of sender with clientMsgID
// gets in conv (tests plant other messages at it).
func DerivedMessageID(s *Server, sender, conv int64, clientMsgID string) int64 {
	id, ok := s.app.DerivedMessageID(sender, conv, clientMsgID)
	if !ok {
		panic("not a UUIDv7: " + clientMsgID)
	}
	return id
}

// DummyHash is the PHC string a login naming no account is verified against.
func DummyHash(s *Server) string { return s.dummyHash }
