package main

import (
	"strings"
	"testing"
)

// The sync lag must cover the send deadline plus the clock skew between
// nodes (an id minted on a node whose clock runs ahead, written a send
// deadline later); the check used to ignore the skew.
func TestConfigSyncLagCoversDeadlineAndSkew(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--send-deadline=3s", "--sync-lag=4s", "--clock-skew=1s"}, false}, // equal: no margin
		{[]string{"--send-deadline=3s", "--sync-lag=4500ms", "--clock-skew=2s"}, false},
		{[]string{"--send-deadline=3s", "--sync-lag=3500ms"}, false}, // the default skew is 1s
		{[]string{"--send-deadline=3s", "--sync-lag=5s", "--clock-skew=-1s"}, false},
		{[]string{"--send-deadline=3s", "--sync-lag=4100ms", "--clock-skew=1s"}, true},
		{nil, true}, // the defaults: 5s > 3s + 1s
	} {
		_, err := parseConfig(c.args)
		if c.ok && err != nil {
			t.Errorf("%v refused: %v", c.args, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "plus clock-skew")) {
			t.Errorf("%v accepted (or refused for another reason: %v)", c.args, err)
		}
	}
}
