// Package sdktest runs the TypeScript SDK's own tests (sdk/typescript, Node's
// test runner) against a real chatd and the dev Cassandra node, after checking
// that its generated types match api/openapi.yaml. Node and npm are part of
// the machine make test runs on; their absence fails, it does not skip.
package sdktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

func sdkDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "sdk", "typescript")
}

// npm runs one npm command in the SDK's folder, its output in the test log.
func npm(t *testing.T, env []string, args ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("npm", args...)
	cmd.Dir = sdkDir(t)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("npm %s (%s):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("npm %s: %v", strings.Join(args, " "), err)
	}
}

func TestTypeScriptSDK(t *testing.T) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: the SDK's tests need Node.js 20 and npm (%v)", tool, err)
		}
	}
	// From package-lock.json, as a fresh clone would get it.
	npm(t, nil, "ci", "--no-audit", "--no-fund")
	npm(t, nil, "run", "check-gen")
	npm(t, nil, "run", "build")
	_, ks := cqltest.NewKeyspace(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	node := testcluster.Start(t, map[string]string{
		"RINGCHAT_CASSANDRA_HOSTS": strings.Join(cqltest.Hosts(), ","),
		"RINGCHAT_KEYSPACE":        ks,
	})
	npm(t, []string{"CHATD_URL=" + node.URL}, "test")
}
