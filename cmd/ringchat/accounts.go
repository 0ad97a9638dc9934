package main

// The account commands: register, login, logout, whoami.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

func cmdRegister(e *env, args []string) error {
	var display string
	pos, err := flags("register", e, args, func(fs *flag.FlagSet) {
		fs.StringVar(&display, "display-name", "", "the name others see (default: the handle)")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one HANDLE")
	}
	if display == "" {
		display = pos[0]
	}
	pw, err := e.password()
	if err != nil {
		return err
	}
	c, err := e.anonymous()
	if err != nil {
		return err
	}
	var out struct {
		User json.RawMessage `json:"user"`
	}
	if err := c.do(e.ctx, "POST", "/auth/register", nil, map[string]string{"handle": pos[0], "password": pw, "display_name": display}, &out); err != nil {
		return err
	}
	return e.print(out.User, func(w io.Writer) {
		var u user
		_ = json.Unmarshal(out.User, &u)
		fmt.Fprintf(w, "registered @%s (id %s); now: ringchat login %s\n", u.Handle, u.ID, u.Handle)
	})
}

func cmdLogin(e *env, args []string) error {
	device := "ringchat CLI"
	if h, err := os.Hostname(); err == nil {
		device += " on " + h
	}
	pos, err := flags("login", e, args, func(fs *flag.FlagSet) {
		fs.StringVar(&device, "device", device, "this device's name, as the device list shows it")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one HANDLE")
	}
	pw, err := e.password()
	if err != nil {
		return err
	}
	c, err := e.anonymous()
	if err != nil {
		return err
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
		User      user      `json:"user"`
		DeviceID  string    `json:"device_id"`
	}
	if err := c.do(e.ctx, "POST", "/auth/login", nil, map[string]string{"handle": pos[0], "password": pw, "device_name": device}, &out); err != nil {
		return err
	}
	s := session{Server: e.server, Token: out.Token, UserID: out.User.ID, Handle: out.User.Handle, DeviceID: out.DeviceID}
	if err := s.save(e.configDir); err != nil {
		return err
	}
	shown := map[string]any{"user": out.User, "device_id": out.DeviceID, "expires_at": out.ExpiresAt, "server": e.server}
	return e.print(shown, func(w io.Writer) {
		fmt.Fprintf(w, "logged in as @%s on %s (device %s, until %s)\n", out.User.Handle, e.server, out.DeviceID, out.ExpiresAt.Format(time.RFC3339))
	})
}

func cmdLogout(e *env, args []string) error {
	if len(args) != 0 {
		return usagef("takes no arguments")
	}
	c, err := e.authed()
	if err != nil {
		return err
	}
	err = c.do(e.ctx, "POST", "/auth/logout", nil, nil, nil)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.Status == 401) { // already ended: forget it all the same
		return err
	}
	if err := (session{Server: e.sess.Server}).save(e.configDir); err != nil {
		return err
	}
	return e.print(map[string]bool{"logged_out": true}, func(w io.Writer) { fmt.Fprintln(w, "logged out") })
}

func cmdWhoami(e *env, args []string) error {
	if len(args) != 0 {
		return usagef("takes no arguments")
	}
	c, err := e.authed()
	if err != nil {
		return err
	}
	var out struct {
		User json.RawMessage `json:"user"`
	}
	if err := c.do(e.ctx, "GET", "/me", nil, nil, &out); err != nil {
		return err
	}
	return e.print(out.User, func(w io.Writer) {
		var u user
		_ = json.Unmarshal(out.User, &u)
		fmt.Fprintf(w, "@%s (%s), id %s, device %s on %s\n", u.Handle, terminalSafe(u.DisplayName), u.ID, e.sess.DeviceID, e.server)
	})
}

// password reads one from the terminal without echo, or stdin's first line
// (scripts: printf '%s\n' "$PW" | ringchat login me).
func (e *env) password() (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin")
	}
	return line, nil
}
