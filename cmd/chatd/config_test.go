package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
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
		{[]string{"--send-deadline=3s", "--sync-lag=6s", "--clock-skew=2s"}, true},
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

// --clock-skew states the real skew the sync lag covers; the code's reads
// ahead of now, the session feed's overlap and the ids it accepts ahead are
// built with repo.ClockSkew, so a larger --clock-skew is refused, however
// long the sync lag, and the default stays within it.
func TestConfigClockSkewWithinTheCodesAllowance(t *testing.T) {
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClockSkew <= 0 || c.ClockSkew > repo.ClockSkew {
		t.Fatalf("default --clock-skew %s, want within (0, repo.ClockSkew = %s]", c.ClockSkew, repo.ClockSkew)
	}
	over := (repo.ClockSkew + time.Millisecond).String()
	_, err = parseConfig([]string{"--clock-skew=" + over, "--sync-lag=1m"})
	if err == nil || !strings.Contains(err.Error(), "repo.ClockSkew") {
		t.Fatalf("--clock-skew=%s with a 1m sync lag: %v, want refused as past repo.ClockSkew", over, err)
	}
	if _, err := parseConfig([]string{"--clock-skew=" + repo.ClockSkew.String(), "--sync-lag=1m"}); err != nil {
		t.Fatalf("--clock-skew=%s (the allowance itself) refused: %v", repo.ClockSkew, err)
	}
}

// --inbox-references is on by default and turned off for a rolling upgrade
// (docs/sync.md), by flag or RINGCHAT_INBOX_REFERENCES; a typo is refused.
func TestConfigInboxReferences(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want bool
	}{
		{nil, "", true},
		{[]string{"--inbox-references=false"}, "", false},
		{nil, "false", false},
		{[]string{"--inbox-references=true"}, "0", true},
	} {
		t.Setenv("RINGCHAT_INBOX_REFERENCES", c.env)
		if c.env == "" {
			os.Unsetenv("RINGCHAT_INBOX_REFERENCES")
		}
		cfg, err := parseConfig(c.args)
		if err != nil || cfg.API.InboxReferences != c.want {
			t.Errorf("%v env %q: references %v (%v), want %v", c.args, c.env, cfg.API.InboxReferences, err, c.want)
		}
	}
	if _, err := parseConfig([]string{"--inbox-references=yes"}); err == nil {
		t.Error("--inbox-references=yes accepted")
	}
}

// Every node writes feed rows with one TTL, that of the largest allowed
// --session-end-bound, so a rolling change of the flag lets no row expire
// before a reader at any allowed bound has read it.
func TestConfigSessionEndTTLCoversEveryBound(t *testing.T) {
	var ttls []time.Duration
	for _, b := range []string{"200ms", "5s", "10m"} {
		cfg, err := parseConfig([]string{"--session-end-bound=" + b})
		if err != nil {
			t.Fatal(err)
		}
		ttls = append(ttls, cfg.Retention.SessionEnds)
	}
	for i, ttl := range ttls {
		if ttl != ttls[0] {
			t.Fatalf("feed TTLs %v differ by bound", ttls)
		}
		if gap := repo.SessionEndMaxGap(ttl); gap < repo.MaxSessionEndBound/4 {
			t.Fatalf("bound #%d writes rows a reader at the largest bound (every %s) may miss: gap %s", i, repo.MaxSessionEndBound/4, gap)
		}
	}
}
