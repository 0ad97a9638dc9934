package api

import (
	"context"
	"sort"

	"github.com/ringchat/ringchat/repo"
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
	ms, ok := uuidV7Millis(clientMsgID)
	if !ok {
		panic("not a UUIDv7: " + clientMsgID)
	}
	id, _ := s.sendKey.messageID(sender, clientMsgID, idMillis(ms, conv))
	return id
}

// AdmitSend runs store through s's send gate, as a send does (tests only).
func AdmitSend(s *Server, waitCtx, ctx context.Context, store func() (repo.Message, bool, error)) (repo.Message, bool, error) {
	return s.admitSend(waitCtx, ctx, store)
}

// SendGateState is s's send gate's bound and sends in flight (tests only).
func SendGateState(s *Server) (limit float64, inFlight int) {
	st := s.sendGate.state()
	return st.limit, st.inFlight
}

// SendAs sends body as sess into convID through the whole send path, gate
// included (tests only).
func SendAs(s *Server, waitCtx, ctx context.Context, sess repo.Session, convID int64, clientMsgID, body string) (repo.Message, bool, error) {
	return s.send(waitCtx, ctx, sess, convID, sendRequest{ClientMsgID: clientMsgID, Body: body}, nil)
}

// DummyHash is the PHC string a login naming no account is verified against.
func DummyHash(s *Server) string { return s.dummyHash }
