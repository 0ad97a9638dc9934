package api

import (
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

func TestSendGateBoundsSendsInFlight(t *testing.T) {
	g := newSendGate(16, time.Second) // starts at a quarter: 4
	now := time.Unix(1000, 0)
	var leaves []func(time.Duration, bool)
	for i := 0; i < 4; i++ {
		leave, err := g.enter(now)
		if err != nil {
			t.Fatalf("send %d refused under the bound: %v", i, err)
		}
		leaves = append(leaves, leave)
	}
	if _, err := g.enter(now); !repo.IsCode(err, repo.CodeUnavailable) {
		t.Fatalf("a fifth send at a bound of 4: %v, want unavailable", err)
	}
	leaves[0](10*time.Millisecond, false)
	if _, err := g.enter(now); err != nil {
		t.Fatalf("a slot freed by a finished send was not reused: %v", err)
	}
	if limit, inFlight, shed := g.state(); inFlight != 4 || shed != 1 || limit <= 4 {
		t.Fatalf("state: limit %.2f, in flight %d, shed %d; want >4, 4, 1", limit, inFlight, shed)
	}
}

func TestSendGateAdapts(t *testing.T) {
	g := newSendGate(64, time.Second)
	now := time.Unix(1000, 0)
	pass := func(took time.Duration, overloaded bool) {
		leave, err := g.enter(now)
		if err != nil {
			t.Fatal(err)
		}
		leave(took, overloaded)
	}
	start, _, _ := g.state()
	for i := 0; i < 3000; i++ {
		pass(5*time.Millisecond, false)
	}
	if limit, _, _ := g.state(); limit != 64 {
		t.Fatalf("timely sends grew the bound from %.1f to %.1f; want the ceiling 64", start, limit)
	}
	// Many slow sends within one target interval cut the bound once, like a
	// congestion window once per round trip, not once per send.
	for i := 0; i < 50; i++ {
		pass(2*time.Second, false)
	}
	if limit, _, _ := g.state(); limit < 50 || limit > 52 {
		t.Fatalf("one interval of slow sends left the bound at %.1f; want one cut to 51.2", limit)
	}
	for i := 0; i < 100; i++ {
		now = now.Add(time.Second)
		pass(0, true) // the ring failed it
	}
	if limit, _, _ := g.state(); limit != 4 {
		t.Fatalf("a failing ring left the bound at %.1f; want the floor 4", limit)
	}
	if off := newSendGate(0, time.Second); off != nil {
		t.Fatal("a ceiling of 0 must disable the gate")
	} else if leave, err := off.enter(now); err != nil || leave == nil {
		t.Fatalf("a disabled gate refused: %v", err)
	}
}
