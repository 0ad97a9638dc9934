// Command ringchat is a command-line client of a chatd: register, log in,
// chat and follow conversations live from a terminal or a script.
//
//	ringchat [--server URL] [--json] COMMAND [ARGS]
//
// Login keeps its token in the user's config folder (session.json, mode
// 0600); every other command runs as that user. --json prints the API's own
// JSON (one object per line for tail) for scripts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// env is one invocation's world: its streams, its folder and its flags.
type env struct {
	ctx       context.Context
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	configDir string
	server    string // --server, or the session's, or the default
	jsonOut   bool
	sess      session
	handles   map[string]string // user id -> handle, looked up once a run
}

type command struct {
	name, args, help string
	run              func(e *env, args []string) error
}

var commands = []command{
	{"register", "HANDLE [--display-name NAME]", "create an account (password from the terminal, or stdin's first line)", cmdRegister},
	{"login", "HANDLE [--device NAME]", "log in as a new device and keep its token", cmdLogin},
	{"logout", "", "end this device's session and forget its token", cmdLogout},
	{"whoami", "", "show who is logged in", cmdWhoami},
	{"contacts", "[list [--state S] | add HANDLE | remove HANDLE]", "list contacts, send or accept a request, remove one", cmdContacts},
	{"dm", "HANDLE", "open the direct conversation with a user; prints its id", cmdDM},
	{"send", "CONV|@HANDLE TEXT...", "send a message (retried with the same client_msg_id when the server asks)", cmdSend},
	{"history", "CONV|@HANDLE [--limit N]", "show a conversation's latest messages, oldest first", cmdHistory},
	{"groups", "[list | create NAME HANDLE...]", "list groups, or create one with members", cmdGroups},
	{"tail", "[CONV|@HANDLE]", "print messages live over WebSocket; after a drop, reconnect and resume by sync", cmdTail},
}

const defaultServer = "http://127.0.0.1:8080"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is bad usage: exit code 2, as flag's own errors.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// cli runs one invocation: 0 done, 1 failed, 2 bad usage.
func cli(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("ringchat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&e.server, "server", "", "chatd's public URL (default: the logged-in session's, else "+defaultServer+")")
	fs.StringVar(&e.configDir, "config-dir", defaultConfigDir(), "where the session (token) is kept")
	fs.BoolVar(&e.jsonOut, "json", false, "print the API's JSON instead of text")
	fs.Usage = func() { usage(stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		usage(stderr, fs)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := e.start()
		if err == nil {
			err = c.run(e, rest)
		}
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "ringchat %s: %v\nusage: ringchat %s %s\n", name, err, name, c.args)
			return 2
		default:
			fmt.Fprintf(stderr, "ringchat %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "ringchat: unknown command %q\n", name)
	usage(stderr, fs)
	return 2
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: ringchat [flags] COMMAND [ARGS]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n            %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "\nflags:")
	fs.PrintDefaults()
}

// start reads the session and settles the server the command talks to.
func (e *env) start() error {
	s, err := loadSession(e.configDir)
	if err != nil {
		return err
	}
	e.sess = s
	if e.server == "" {
		e.server = s.Server
	}
	if e.server == "" {
		e.server = defaultServer
	}
	return nil
}

// anonymous is a client without a token (register, login).
func (e *env) anonymous() (*client, error) { return newClient(e.server, "") }

// authed is a client as the logged-in user, on the server they logged in to.
func (e *env) authed() (*client, error) {
	if e.sess.Token == "" {
		return nil, errors.New("not logged in: run ringchat login HANDLE")
	}
	if e.sess.Server != e.server {
		return nil, fmt.Errorf("logged in to %s, not %s: log in there first", e.sess.Server, e.server)
	}
	return newClient(e.server, e.sess.Token)
}

// flags parses a command's own flags, which may come before or after its
// positional arguments (flag stops at the first of those).
func flags(name string, e *env, args []string, def func(*flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet("ringchat "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
