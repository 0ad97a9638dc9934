package chat

import (
	"context"
	"testing"

	"github.com/ringchat/ringchat/repo"
)

// A send that panics gives its gate slot back: the socket recovers the panic
// and lives on, so a leaked slot would be lost for good.
func TestSendAdmissionReturnsTheSlotOfAPanickedSend(t *testing.T) {
	a := newTestApp(t)
	limit := a.sendGate.state().limit
	for i := 0; i < int(limit)+1; i++ {
		func() {
			defer func() { _ = recover() }()
			_, _, _ = a.admitSend(context.Background(), context.Background(), func() (repo.Message, bool, error) { panic("store bug") })
		}()
	}
	if inFlight := a.sendGate.state().inFlight; inFlight != 0 {
		t.Fatalf("%d sends still in flight after every one panicked and returned", inFlight)
	}
	if _, _, err := a.admitSend(context.Background(), context.Background(), func() (repo.Message, bool, error) { return repo.Message{}, true, nil }); err != nil {
		t.Fatalf("a send after panicked ones: %v", err)
	}
}

// A caller whose context is cancelled while Cassandra works (a client gone)
// is not the ring overloading: the node's bound, shared by every client,
// must not shrink for it. A real store failure still shrinks it.
func TestSendAdmissionIgnoresTheCallersCancellation(t *testing.T) {
	a := newTestApp(t)
	before := a.sendGate.state().limit
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the client left as its send reached the store
		_, _, err := a.admitSend(context.Background(), ctx, func() (repo.Message, bool, error) {
			_, err := a.store.GetConversation(ctx, 1)
			return repo.Message{}, false, err
		})
		if !repo.IsCode(err, repo.CodeUnavailable) {
			t.Fatalf("a cancelled send: %v, want unavailable", err)
		}
	}
	if st := a.sendGate.state(); st.limit < before || st.inFlight != 0 {
		t.Fatalf("bound %.2f -> %.2f (%d in flight) after callers cancelled their sends; want it not cut", before, st.limit, st.inFlight)
	}
	_, _, _ = a.admitSend(context.Background(), context.Background(), func() (repo.Message, bool, error) {
		return repo.Message{}, false, repo.Errorf(repo.CodeUnavailable, "storage unavailable")
	})
	if after := a.sendGate.state().limit; after >= before {
		t.Fatalf("a store failure left the bound at %.2f (was %.2f); want it cut", after, before)
	}
}
