// Package sdktest runs the TypeScript SDK's own tests (sdk/typescript, Node's
// test runner) against a real chatd and the dev Cassandra node, after checking
// that its generated types match api/openapi.yaml. Node and npm are part of
// the machine make test runs on; their absence fails, it does not skip.
package sdktest

import (
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

func TestTypeScriptSDK(t *testing.T) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: the SDK's tests need Node.js 20 and npm (%v)", tool, err)
		}
	}
	// From package-lock.json, as a fresh clone would get it.
	testcluster.NPM(t, sdkDir(t), nil, "ci", "--no-audit", "--no-fund")
	testcluster.NPM(t, sdkDir(t), nil, "run", "check-gen")
	testcluster.NPM(t, sdkDir(t), nil, "run", "build")
	_, ks := cqltest.NewKeyspace(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	node := testcluster.Start(t, map[string]string{
		"RINGCHAT_CASSANDRA_HOSTS": strings.Join(cqltest.Hosts(), ","),
		"RINGCHAT_KEYSPACE":        ks,
	})
	testcluster.NPM(t, sdkDir(t), []string{"CHATD_URL=" + node.URL}, "test")
}
