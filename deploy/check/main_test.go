package check

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository root, seen from this package's directory (go test
// runs a package's tests there).
var root = filepath.Join("..", "..")

// bin holds chatd and ringchat-migrate built from root by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploycheck-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("deploy-check: building chatd and ringchat-migrate from the repo root ...")
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/chatd", "./cmd/ringchat-migrate")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "deploy-check: go build in the repo root:", err)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoFile reads a file of the repository, failing the test when it cannot.
func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cleanEnv is this process's environment without RINGCHAT_* variables (make
// exports some): a command run with it sees only the variables a test gives.
func cleanEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RINGCHAT_") {
			env = append(env, kv)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}
