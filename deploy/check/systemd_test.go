package check

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const systemdDir = "deploy/systemd"

// unit is a unit file's [Service] settings (a key may repeat).
type unit map[string][]string

func readUnit(t *testing.T, name string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(repoFile(t, path.Join(systemdDir, name))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			u[k] = append(u[k], v)
		}
	}
	return u
}

func (u unit) one(t *testing.T, name, key string) string {
	t.Helper()
	if len(u[key]) != 1 {
		t.Errorf("%s: want one %s=, have %q", name, key, u[key])
		return ""
	}
	return u[key][0]
}

// readEnvFile reads an EnvironmentFile example: NAME=value lines.
func readEnvFile(t *testing.T, rel string) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(repoFile(t, rel)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is no NAME=value line", rel, line)
		}
		env[k] = v
	}
	return env
}

// systemd-analyze verify loads the units as systemd would and reports
// unknown keys, bad values and missing binaries; it needs no running
// systemd. The units name /usr/local/bin/..., which does not exist here, so
// they are verified from a copy whose ExecStart paths point at placeholder
// executables (that one path is all that differs). Any output fails: verify
// warns about an unknown key and still exits 0.
func TestSystemdUnitsVerify(t *testing.T) {
	units := []string{"chatd.service", "ringchat-migrate.service"}
	tmp := t.TempDir()
	built := makeBuild(t).binaries()
	for _, name := range units {
		u := readUnit(t, name)
		exe, _, _ := strings.Cut(u.one(t, name, "ExecStart"), " ")
		if path.Dir(exe) != "/usr/local/bin" || !slices.Contains(built, path.Base(exe)) {
			t.Errorf("%s: ExecStart runs %s; want /usr/local/bin/ and one of make build's binaries %v", name, exe, built)
		}
		placeholder := filepath.Join(tmp, "bin", path.Base(exe))
		if err := os.MkdirAll(filepath.Dir(placeholder), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(placeholder, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(repoFile(t, path.Join(systemdDir, name))), "ExecStart="+exe, "ExecStart="+placeholder)
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, units...)...)
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify %v: %v\n%s", units, err, out)
	}
}

// The hardening and limits the issue asks for, the stop timeout chatd's
// graceful shutdown needs, and environment files naming only settings the
// programs read, with values they accept.
func TestSystemdUnitsSettings(t *testing.T) {
	chatdEnv := readEnvFile(t, systemdDir+"/chatd.env.example")
	migrateEnv := readEnvFile(t, systemdDir+"/migrate.env.example")
	checkNames(t, "chatd.env.example", keys(chatdEnv), chatdSettings(t), "chatd")
	checkValues(t, "chatd.env.example", "chatd", chatdEnv)
	checkNames(t, "migrate.env.example", keys(migrateEnv), migrateSettings(t), "ringchat-migrate")
	// ringchat-migrate reads both files (hosts and keyspace from chatd's).
	both := map[string]string{}
	for k, v := range chatdEnv {
		both[k] = v
	}
	for k, v := range migrateEnv {
		both[k] = v
	}
	checkValues(t, "chatd.env.example + migrate.env.example", "ringchat-migrate", both)

	files := map[string][]string{
		"chatd.service":            {"/etc/ringchat/chatd.env"},
		"ringchat-migrate.service": {"/etc/ringchat/chatd.env", "/etc/ringchat/migrate.env"},
	}
	for name, envFiles := range files {
		u := readUnit(t, name)
		if !slices.Equal(u["EnvironmentFile"], envFiles) {
			t.Errorf("%s: EnvironmentFile=%q; want %q (the examples in %s)", name, u["EnvironmentFile"], envFiles, systemdDir)
		}
		for key, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes"} {
			if got := u.one(t, name, key); got != want {
				t.Errorf("%s: %s=%s; want %s", name, key, got, want)
			}
		}
		if len(u["DynamicUser"]) == 0 && len(u["User"]) == 0 || slices.Contains(u["User"], "root") {
			t.Errorf("%s: runs as root (want DynamicUser=yes or a service User=)", name)
		}
	}
	chatd := readUnit(t, "chatd.service")
	if n, err := strconv.Atoi(chatd.one(t, "chatd.service", "LimitNOFILE")); err != nil || n < 100_000+1024 {
		t.Errorf("chatd.service: LimitNOFILE=%v; 100,000 sockets need more than 101,024", chatd["LimitNOFILE"])
	}
	shutdown := 15 * time.Second // chatd's default --shutdown-timeout
	if v, ok := chatdEnv["RINGCHAT_SHUTDOWN_TIMEOUT"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		shutdown = d
	}
	stop, err := time.ParseDuration(chatd.one(t, "chatd.service", "TimeoutStopSec"))
	if err != nil || stop <= shutdown {
		t.Errorf("chatd.service: TimeoutStopSec=%v must exceed the shutdown timeout (%s), or systemd kills chatd before its sockets close with 1012", chatd["TimeoutStopSec"], shutdown)
	}
}
