package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/cmd/internal/flagenv"
	"github.com/ringchat/ringchat/internal/testcluster"
)

// README's configuration table is the operators' reference: every flag
// --help prints is in it with its variable and default, and it names no
// flag chatd does not have.
func TestReadmeConfigTableAgreesWithHelp(t *testing.T) {
	// Without RINGCHAT_* variables: --help prints them as the defaults.
	cmd := exec.Command(testcluster.Binary(t), "--help")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RINGCHAT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chatd --help: %v\n%s", err, out)
	}
	help := map[string]string{} // flag -> default as --help prints it ("" when none)
	flagLine := regexp.MustCompile(`^  -([a-z0-9-]+)`)
	defaultOf := regexp.MustCompile(`\(default "?(.*?)"?\)$`)
	var last string
	for _, line := range strings.Split(string(out), "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			last = m[1]
			help[last] = ""
			line = strings.TrimPrefix(line, m[0])
		}
		if m := defaultOf.FindStringSubmatch(strings.TrimSpace(line)); m != nil && last != "" {
			help[last] = m[1]
		}
	}
	if len(help) < 40 {
		t.Fatalf("found only %d flags in --help:\n%s", len(help), out)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	section = section[strings.Index(section, "## Configuration"):]
	if i := strings.Index(section[3:], "\n## "); i > 0 {
		section = section[:i+3]
	}
	// A row names one flag, or several that go together: "`--a`, `--b`" with
	// their variables and defaults in the same order.
	row := regexp.MustCompile("(?m)^\\| (`--[a-z0-9-]+`(?:, `--[a-z0-9-]+`)*) \\| ([^|]*) \\| ([^|]*) \\|")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		names, envs, defs := cells(m[1]), cells(m[2]), cells(m[3])
		for i, name := range names {
			name = strings.TrimPrefix(name, "--")
			documented[name] = true
			want, ok := help[name]
			if !ok {
				t.Errorf("README documents --%s, which chatd does not have", name)
				continue
			}
			if i >= len(envs) || envs[i] != flagenv.EnvName(name) {
				t.Errorf("README gives --%s the variables %q; chatd reads %s", name, envs, flagenv.EnvName(name))
			}
			if want != "" && (len(defs) != len(names) || !sameDefault(defs[i], want)) {
				t.Errorf("README gives --%s the defaults %q; --help says %q", name, defs, want)
			}
		}
	}
	for name := range help {
		if !documented[name] {
			t.Errorf("--%s is missing from README's configuration table", name)
		}
	}
}

// cells splits a README cell of "`a`, `b`" into its values.
func cells(cell string) []string {
	var out []string
	for _, v := range strings.Split(cell, ", ") {
		out = append(out, strings.Trim(strings.TrimSpace(v), "`"))
	}
	return out
}

// sameDefault compares a README default with --help's, durations by value
// (README writes 2m where --help prints 2m0s).
func sameDefault(readme, help string) bool {
	if readme == help {
		return true
	}
	a, errA := time.ParseDuration(readme)
	b, errB := time.ParseDuration(help)
	return errA == nil && errB == nil && a == b
}
