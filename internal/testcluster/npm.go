package testcluster

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// NPM runs one npm command in dir with env added, its output and duration in
// the test log, and fails the test when it fails (the front-end suites).
func NPM(t testing.TB, dir string, env []string, args ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("npm", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("npm %s (%s):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("npm %s in %s: %v", strings.Join(args, " "), dir, err)
	}
}
