package ringtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ringchat/ringchat/internal/testcluster"
)

// keepLogs writes a failed scenario's chatd logs under .stack/ring/ and puts
// only their last lines in the test log, repeats folded: CI shows the tail
// of the output, and a long dump there would push the failure itself out
// of it.
func keepLogs(t *testing.T, nodes []*testcluster.Node) {
	dir := filepath.Join(root(), ".stack", "ring", "failed")
	_ = os.MkdirAll(dir, 0o755)
	for i, n := range nodes {
		path := filepath.Join(dir, fmt.Sprintf("%s-chatd%d.log", t.Name(), i))
		if err := os.WriteFile(path, []byte(n.Logs()), 0o644); err != nil {
			t.Logf("chatd %d's logs not kept: %v", i, err)
			continue
		}
		t.Logf("chatd %d's logs: %s; its last lines:\n%s", i, path, tail(n.Logs(), 8))
	}
}

var logTime = regexp.MustCompile(`^time=\S+ `)

// tail is the last n distinct lines of logs (a line differing from the one
// before only in its time counts once, with how many times it came).
func tail(logs string, n int) string {
	var out []string
	var prev string
	repeats := 0
	flush := func() {
		if prev == "" {
			return
		}
		if repeats > 1 {
			prev += fmt.Sprintf(" (×%d)", repeats)
		}
		out = append(out, prev)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if prev != "" && logTime.ReplaceAllString(line, "") == logTime.ReplaceAllString(prev, "") {
			repeats++
			continue
		}
		flush()
		prev, repeats = line, 1
	}
	flush()
	return strings.Join(out[max(0, len(out)-n):], "\n")
}
