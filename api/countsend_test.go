package api

import (
	"testing"

	"github.com/ringchat/ringchat/api/obs"
)

// A send that panics counts as internal (what its client is answered), one
// that succeeds as ok, and one refused as its code; the panic goes on.
func TestCountedSendCountsEveryOutcome(t *testing.T) {
	s := &Server{metrics: obs.New()}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("the panic did not go on: %v", r)
			}
		}()
		_ = s.countedSend("ws", func() error { panic("boom") })
		t.Error("countedSend swallowed the panic")
	}()
	_ = s.countedSend("rest", func() error { return nil })
	if err := s.countedSend("rest", func() error { return invalid("bad") }); err == nil {
		t.Error("the send's error was lost")
	}
	want := map[[2]string]float64{{"ws", "internal"}: 1, {"rest", "ok"}: 1, {"rest", "invalid_argument"}: 1}
	fams, err := s.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[2]string]float64{}
	for _, f := range fams {
		if f.GetName() != "ringchat_sends_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got[[2]string{l["transport"], l["result"]}] = m.GetCounter().GetValue()
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sends_total%v = %v; want %v (all: %v)", k, got[k], v, got)
		}
	}
}
