// Package testcluster builds chatd and runs real chatd processes for tests:
// several nodes on loopback ports against the one Cassandra node.
package testcluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/chatd once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chatd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "chatd")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "./cmd/chatd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/chatd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Node is one running chatd process.
type Node struct {
	t        testing.TB
	cmd      *exec.Cmd
	URL      string // http://127.0.0.1:port
	Internal string // host:port of the node-to-node listener
	Admin    string // host:port of the admin listener (metrics, health, pprof)
	Env      map[string]string
	logs     *strings.Builder
	mu       sync.Mutex
	done     chan struct{}
}

// Start runs a chatd with RINGCHAT_* settings from env (keyspace, hosts, ...)
// and args (flags) on a free loopback port and waits until it serves. The
// node is killed at test cleanup if still running.
func Start(t testing.TB, env map[string]string, args ...string) *Node {
	t.Helper()
	bin := Binary(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "RINGCHAT_LISTEN=127.0.0.1:0", "RINGCHAT_ADMIN_LISTEN=127.0.0.1:0", "RINGCHAT_LOG_LEVEL=warn",
		"RINGCHAT_SEND_RATE=0", // load-shaped tests; the limiter has its own test in api
		// Many logins from one address; the auth bounds have their own tests.
		"RINGCHAT_AUTH_ADDRESS_RATE=0", "RINGCHAT_AUTH_HANDLE_RATE=0", "RINGCHAT_PASSWORD_HASH_CONCURRENCY=8")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{t: t, cmd: cmd, Env: env, logs: &strings.Builder{}, done: make(chan struct{})}
	cmd.Stderr = lockedWriter{n}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chatd: %v", err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "chatd admin on "); ok {
				n.mu.Lock()
				n.Admin = a
				n.mu.Unlock()
			}
			if a, ok := strings.CutPrefix(line, "chatd internal on "); ok {
				n.mu.Lock()
				n.Internal = a
				n.mu.Unlock()
			}
			if u, ok := strings.CutPrefix(line, "chatd serving on "); ok {
				urls <- u
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(n.done) }()
	t.Cleanup(func() { n.Kill() })
	select {
	case n.URL = <-urls:
	case <-n.done:
		t.Fatalf("chatd exited before serving:\n%s", n.Logs())
	case <-time.After(60 * time.Second):
		n.Kill()
		t.Fatalf("chatd did not start within 60s:\n%s", n.Logs())
	}
	return n
}

type lockedWriter struct{ n *Node }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	if w.n.logs.Len() < 1<<20 {
		w.n.logs.Write(p)
	}
	return len(p), nil
}

// Logs returns what the process wrote to stderr (first MiB).
func (n *Node) Logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (n *Node) Kill() {
	if n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-n.done
}

// Stop sends SIGTERM and waits up to timeout for a graceful exit; it returns
// the exit error (nil for a clean exit) or an error when the bound was missed.
func (n *Node) Stop(ctx context.Context) error {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		if n.cmd.ProcessState.Success() {
			return nil
		}
		return fmt.Errorf("chatd exited: %s\n%s", n.cmd.ProcessState, n.Logs())
	case <-ctx.Done():
		n.Kill()
		return fmt.Errorf("chatd did not stop in time: %w", ctx.Err())
	}
}

// PID is the chatd process's id (for /proc readings such as VmHWM).
func (n *Node) PID() int { return n.cmd.Process.Pid }
