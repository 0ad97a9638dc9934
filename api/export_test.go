package api

import "github.com/ringchat/ringchat/chat"

// DerivedMessageID is the message id a UUIDv7 send of sender with clientMsgID
// gets in conv (tests plant other messages at it).
func DerivedMessageID(s *Server, sender, conv int64, clientMsgID string) int64 {
	id, ok := s.app.DerivedMessageID(sender, conv, clientMsgID)
	if !ok {
		panic("not a UUIDv7: " + clientMsgID)
	}
	return id
}

// EncodeHistoryCursorForTest is a history cursor at id (a cursor of
// another kind, which the export must refuse).
func EncodeHistoryCursorForTest(id int64) string { return encodeCursor("before", id) }

// EncodeExportCursorForTest is the export cursor of a position.
func EncodeExportCursorForTest(phase int, conv, after int64) string {
	return encodeExportCursor(chat.ExportPosition{Phase: phase, Conv: conv, After: after})
}
