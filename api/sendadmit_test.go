package api_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/repo"
)

// A send that panics gives its gate slot back: the socket recovers the panic
// and lives on, so a leaked slot would be lost for good.
func TestSendAdmissionReturnsTheSlotOfAPanickedSend(t *testing.T) {
	e := newEnv(t)
	limit, _ := api.SendGateState(e.api)
	for i := 0; i < int(limit)+1; i++ {
		func() {
			defer func() { _ = recover() }()
			_, _, _ = api.AdmitSend(e.api, context.Background(), context.Background(), func() (repo.Message, bool, error) { panic("store bug") })
		}()
	}
	if _, inFlight := api.SendGateState(e.api); inFlight != 0 {
		t.Fatalf("%d sends still in flight after every one panicked and returned", inFlight)
	}
	if _, _, err := api.AdmitSend(e.api, context.Background(), context.Background(), func() (repo.Message, bool, error) { return repo.Message{}, true, nil }); err != nil {
		t.Fatalf("a send after panicked ones: %v", err)
	}
}

// A client that abandons its sends (its context cancelled while Cassandra
// works) is not the ring overloading: the node's bound, shared by every
// client, must not shrink for it. A real store failure still shrinks it.
func TestSendAdmissionIgnoresTheCallersCancellation(t *testing.T) {
	e := newEnv(t)
	a, b := e.newUser("ca"), e.newUser("cb")
	conv, _ := strconv.ParseInt(a.direct(b), 10, 64)
	uid, _ := strconv.ParseInt(a.userID, 10, 64)
	sess := repo.Session{UserID: uid, DeviceID: 1}
	before, _ := api.SendGateState(e.api)
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the client left as its send reached the store
		_, _, err := api.SendAs(e.api, context.Background(), ctx, sess, conv, "cancel-"+strconv.Itoa(i), "bye")
		if !repo.IsCode(err, repo.CodeUnavailable) {
			t.Fatalf("a cancelled send: %v, want unavailable", err)
		}
	}
	if after, inFlight := api.SendGateState(e.api); after < before || inFlight != 0 {
		t.Fatalf("bound %.2f -> %.2f (%d in flight) after clients cancelled their sends; want it not cut", before, after, inFlight)
	}
	_, _, _ = api.AdmitSend(e.api, context.Background(), context.Background(), func() (repo.Message, bool, error) {
		return repo.Message{}, false, repo.Errorf(repo.CodeUnavailable, "storage unavailable")
	})
	if after, _ := api.SendGateState(e.api); after >= before {
		t.Fatalf("a store failure left the bound at %.2f (was %.2f); want it cut", after, before)
	}
}
