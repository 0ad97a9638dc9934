package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/faultproxy"
	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

// lockedBuffer is a stdout a running tail writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// user is one person at a terminal: their own config folder.
type cliUser struct {
	t      *testing.T
	dir    string
	server string
}

// run is one invocation with stdin; it returns the exit code and both streams.
func (u cliUser) run(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	all := append([]string{"--server", u.server, "--config-dir", u.dir}, args...)
	code := cli(context.Background(), all, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// ok runs and fails the test unless it exits 0; it returns stdout.
func (u cliUser) ok(stdin string, args ...string) string {
	u.t.Helper()
	code, out, errOut := u.run(stdin, args...)
	if code != 0 {
		u.t.Fatalf("ringchat %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

func startChatd(t *testing.T) *testcluster.Node {
	_, ks := cqltest.NewKeyspace(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	return testcluster.Start(t, map[string]string{
		"RINGCHAT_CASSANDRA_HOSTS": strings.Join(cqltest.Hosts(), ","),
		"RINGCHAT_KEYSPACE":        ks,
	})
}

func newUser(t *testing.T, server, handle string) cliUser {
	u := cliUser{t: t, dir: filepath.Join(t.TempDir(), "cfg"), server: server}
	u.ok("pw-"+handle+"-long\n", "register", handle, "--display-name", strings.ToUpper(handle))
	u.ok("pw-"+handle+"-long\n", "login", handle)
	return u
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The CLI's commands against a real chatd: accounts, contacts, a DM, history,
// groups, and logout, with the session file kept private.
func TestCommandsAgainstRealChatd(t *testing.T) {
	node := startChatd(t)
	alice, bob := newUser(t, node.URL, "alice"), newUser(t, node.URL, "bob")

	var me user
	if err := json.Unmarshal([]byte(alice.ok("", "--json", "whoami")), &me); err != nil || me.Handle != "alice" || me.DisplayName != "ALICE" {
		t.Fatalf("whoami --json: %+v %v", me, err)
	}
	st, err := os.Stat(sessionPath(alice.dir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v; want mode 0600", st.Mode(), err)
	}
	if d, _ := os.Stat(alice.dir); d.Mode().Perm() != 0o700 {
		t.Fatalf("config folder mode %v; want 0700", d.Mode().Perm())
	}

	if out := alice.ok("", "contacts", "add", "@bob"); !strings.Contains(out, "@bob: requested") {
		t.Fatalf("contacts add: %q", out)
	}
	if out := bob.ok("", "contacts"); !strings.Contains(out, "alice") || !strings.Contains(out, "pending") {
		t.Fatalf("bob's contacts: %q", out)
	}
	bob.ok("", "contacts", "add", "alice")
	if out := alice.ok("", "contacts", "--state", "accepted"); !strings.Contains(out, "@bob") {
		t.Fatalf("accepted contacts: %q", out)
	}

	conv := strings.TrimSpace(alice.ok("", "dm", "@bob"))
	if again := strings.TrimSpace(bob.ok("", "dm", "alice")); again != conv {
		t.Fatalf("the pair's DM: %s from alice, %s from bob", conv, again)
	}
	alice.ok("", "send", "@bob", "hello", "bob")
	alice.ok("line one\nline two\n", "send", conv, "-")
	out := bob.ok("", "history", conv)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "@alice: hello bob") || !strings.HasSuffix(lines[1], `@alice: line one\nline two`) {
		t.Fatalf("history, oldest first, one line each:\n%s", out)
	}
	var hist struct{ Messages []message }
	if err := json.Unmarshal([]byte(bob.ok("", "--json", "history", "--limit", "1", "@alice")), &hist); err != nil || len(hist.Messages) != 1 {
		t.Fatalf("history --json --limit 1: %+v %v", hist, err)
	}

	group := strings.TrimSpace(alice.ok("", "groups", "create", "team", "@bob"))
	if out := bob.ok("", "groups"); !strings.Contains(out, group) || !strings.Contains(out, "team") || !strings.Contains(out, "2 members") {
		t.Fatalf("bob's groups: %q", out)
	}

	sess, _ := loadSession(alice.dir)
	alice.ok("", "logout")
	if code, _, errOut := alice.run("", "whoami"); code != 1 || !strings.Contains(errOut, "not logged in") {
		t.Fatalf("whoami after logout: %d %q", code, errOut)
	}
	if st, _ := testcluster.Call(t, "GET", node.URL+"/v1/me", sess.Token, nil); st != 401 {
		t.Fatalf("the token after logout: %d; want 401", st)
	}
}

// Bad usage exits 2 and bad credentials 1, each saying why; nothing is
// saved from a failed login.
func TestErrors(t *testing.T) {
	node := startChatd(t)
	carol := newUser(t, node.URL, "carol")
	stranger := cliUser{t: t, dir: filepath.Join(t.TempDir(), "cfg"), server: node.URL}
	cases := []struct {
		u     cliUser
		stdin string
		args  []string
		code  int
		says  string
	}{
		{stranger, "wrong-password\n", []string{"login", "carol"}, 1, "unauthenticated (401)"},
		{stranger, "", []string{"login", "carol"}, 1, "no password on stdin"},
		{stranger, "", []string{"whoami"}, 1, "not logged in"},
		{stranger, "", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{carol, "", []string{"send", "not-a-conversation", "hi"}, 2, "neither a conversation id nor @handle"},
		{carol, "", []string{"send", "@nobody_here", "hi"}, 1, "user @nobody_here: not_found (404)"},
		{carol, "", []string{"send", "123"}, 2, "want a conversation and the text"},
		{carol, "", []string{"send", "123", "hi"}, 1, "not_found (404)"},
		{carol, "", []string{"history", "--limit", "x", "123"}, 2, "invalid value"},
		{carol, "", []string{"contacts", "befriend", "bob"}, 2, "want list, add HANDLE or remove HANDLE"},
		{stranger, "pw\n", []string{"register", "x"}, 1, "invalid_argument (400)"},
	}
	for _, c := range cases {
		code, _, errOut := c.u.run(c.stdin, c.args...)
		if code != c.code || !strings.Contains(errOut, c.says) {
			t.Errorf("ringchat %v: exit %d, stderr %q; want exit %d saying %q", c.args, code, errOut, c.code, c.says)
		}
	}
	if _, err := os.Stat(sessionPath(stranger.dir)); !os.IsNotExist(err) {
		t.Fatalf("a failed login saved a session: %v", err)
	}
	// --server other than the one logged in to: refused, not sent the token.
	if code, _, errOut := carol.run("", "--server", "http://127.0.0.1:1", "whoami"); code != 1 || !strings.Contains(errOut, "logged in to") {
		t.Fatalf("another server: %d %q", code, errOut)
	}
}

// tail prints live messages once each, and after its connection is cut,
// reconnects and prints what was sent while it was away, by sync.
func TestTailResumesAfterDrop(t *testing.T) {
	node := startChatd(t)
	proxy, err := faultproxy.Start(strings.TrimPrefix(node.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	dave := newUser(t, node.URL, "dave")
	erin := newUser(t, "http://"+proxy.Addr(), "erin")
	conv := strings.TrimSpace(dave.ok("", "dm", "@erin"))

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli(ctx, []string{"--server", erin.server, "--config-dir", erin.dir, "tail", conv}, strings.NewReader(""), &out, &errOut)
	}()
	// The tail is live once a message sent now reaches it.
	dave.ok("", "send", conv, "live one")
	waitFor(t, "the live message", func() bool { return strings.Contains(out.String(), "@dave: live one") })

	proxy.SetMode(faultproxy.Refuse) // cuts the socket; reconnects are refused
	waitFor(t, "the tail to notice", func() bool { return strings.Contains(errOut.String(), "reconnecting") })
	dave.ok("", "send", conv, "while away")
	proxy.SetMode(faultproxy.Forward)
	waitFor(t, "the missed message", func() bool { return strings.Contains(out.String(), "@dave: while away") })
	dave.ok("", "send", conv, "after")
	waitFor(t, "the next live message", func() bool { return strings.Contains(out.String(), "@dave: after") })

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("tail exit %d on interrupt: %s", code, errOut.String())
	}
	for _, m := range []string{"live one", "while away", "after"} {
		if n := strings.Count(out.String(), "@dave: "+m+"\n"); n != 1 {
			t.Errorf("%q printed %d times; want once:\n%s", m, n, out.String())
		}
	}
}

func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, tab\tok":   "plain text, tab\tok",
		"two\nlines\r":          `two\nlines\r`,
		"\x1b[2J\x1b]0;pwned\a": `\u001b[2J\u001b]0;pwned\u0007`,
		"c1 \u009b31m":          `c1 \u009b31m`,
		"bidi \u202eevil":       `bidi \u202eevil`,
		"émoji 🙂":               "émoji 🙂",
	} {
		if got := terminalSafe(in); got != want {
			t.Errorf("terminalSafe(%q) = %q; want %q", in, got, want)
		}
	}
}

// A session saved into a folder made looser before leaves it 0700, the file
// 0600, and nothing else behind.
func TestSessionSaveTightensTheFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := (session{Server: "http://x", Token: "secret"}).save(dir); err != nil {
		t.Fatal(err)
	}
	d, _ := os.Stat(dir)
	f, _ := os.Stat(sessionPath(dir))
	entries, _ := os.ReadDir(dir)
	if d.Mode().Perm() != 0o700 || f.Mode().Perm() != 0o600 || len(entries) != 1 {
		t.Fatalf("folder %v, file %v, entries %d; want 0700, 0600, 1", d.Mode().Perm(), f.Mode().Perm(), len(entries))
	}
	if s, err := loadSession(dir); err != nil || s.Token != "secret" {
		t.Fatalf("read back: %+v %v", s, err)
	}
}
