package check

import (
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// A program's settings: variable -> flag (RINGCHAT_LISTEN -> listen).
type settings map[string]string

var (
	flagLine   = regexp.MustCompile(`^  -([a-z0-9-]+)`)
	envMention = regexp.MustCompile(`\((RINGCHAT_[A-Z0-9_]+)\)`)
)

// help runs `<program> --help` without RINGCHAT_* variables and reads each
// flag and the variable its usage names (flagenv appends "(RINGCHAT_X)").
func help(t *testing.T, program string) settings {
	t.Helper()
	cmd := exec.Command(bin+"/"+program, "--help")
	cmd.Env = cleanEnv(nil)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", program, err, out)
	}
	s := settings{}
	var last string
	for _, line := range strings.Split(string(out), "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			last = m[1]
		}
		for _, m := range envMention.FindAllStringSubmatch(line, -1) {
			if last != "" && m[1] == envName(last) {
				s[m[1]] = last
			}
		}
	}
	if len(s) < 5 {
		t.Fatalf("%s --help: found only %d flags with their variables:\n%s", program, len(s), out)
	}
	return s
}

// envName is flagenv's rule: listen -> RINGCHAT_LISTEN.
func envName(flag string) string {
	return "RINGCHAT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func chatdSettings(t *testing.T) settings   { t.Helper(); return help(t, "chatd") }
func migrateSettings(t *testing.T) settings { t.Helper(); return help(t, "ringchat-migrate") }

// readmeTable reads README's configuration table: every row's flags and
// variables ("`--a`, `--b` | `RINGCHAT_A`, `RINGCHAT_B`").
func readmeTable(t *testing.T) settings {
	t.Helper()
	section := readmeSection(t, "## Configuration")
	row := regexp.MustCompile("(?m)^\\| (`--[a-z0-9-]+`(?:, `--[a-z0-9-]+`)*) \\| ([^|]*) \\|")
	s := settings{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		flags, envs := cells(m[1]), cells(m[2])
		if len(flags) != len(envs) {
			t.Errorf("README row %q: %d flags, %d variables", m[0], len(flags), len(envs))
			continue
		}
		for i, f := range flags {
			s[envs[i]] = strings.TrimPrefix(f, "--")
		}
	}
	if len(s) < 40 {
		t.Fatalf("README's configuration table: found only %d rows", len(s))
	}
	return s
}

// readmeMigrateFlags reads the flags README's sentence on ringchat-migrate names.
func readmeMigrateFlags(t *testing.T) []string {
	t.Helper()
	section := readmeSection(t, "## Configuration")
	i := strings.Index(section, "`ringchat-migrate` (`up`, `status`) takes")
	if i < 0 {
		t.Fatal("README: the sentence on ringchat-migrate's flags is gone")
	}
	sentence := section[i:]
	sentence = sentence[:strings.Index(sentence, "names)")]
	var flags []string
	for _, m := range regexp.MustCompile("`--([a-z0-9-]+)").FindAllStringSubmatch(sentence, -1) {
		flags = append(flags, m[1])
	}
	return flags
}

func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	readme := string(repoFile(t, "README.md"))
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	section := readme[i+1:]
	if j := strings.Index(section[len(heading):], "\n## "); j >= 0 {
		section = section[:len(heading)+j]
	}
	return section
}

func cells(cell string) []string {
	var out []string
	for _, v := range strings.Split(cell, ", ") {
		out = append(out, strings.Trim(strings.TrimSpace(v), "`"))
	}
	return out
}

// README's table and chatd --help name the same settings with the same
// variables; README's sentence on ringchat-migrate names exactly its flags.
// (cmd/chatd's own test compares defaults too; this one is what the
// manifests' checks below rest on.)
func TestReadmeAndHelpAgree(t *testing.T) {
	readme, chatd := readmeTable(t), chatdSettings(t)
	for env, flag := range readme {
		if chatd[env] != flag {
			t.Errorf("README's table has --%s as %s; chatd --help does not", flag, env)
		}
	}
	for env, flag := range chatd {
		if readme[env] != flag {
			t.Errorf("chatd --help has --%s (%s); README's table does not", flag, env)
		}
	}
	migrate := migrateSettings(t)
	named := map[string]bool{}
	for _, f := range readmeMigrateFlags(t) {
		named[f] = true
		if _, ok := migrate[envName(f)]; !ok {
			t.Errorf("README says ringchat-migrate takes --%s; its --help has no such flag", f)
		}
	}
	for _, f := range migrate {
		if !named[f] {
			t.Errorf("ringchat-migrate --help has --%s; README's sentence on its flags does not name it", f)
		}
	}
}

// checkNames fails on every RINGCHAT_* name in names that s lacks.
func checkNames(t *testing.T, where string, names []string, s settings, program string) {
	t.Helper()
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, "RINGCHAT_") {
			if _, ok := s[n]; !ok {
				t.Errorf("%s: %s is no setting of %s (README's configuration table, --help)", where, n, program)
			}
		}
	}
}

// checkValues runs `<program> --help` with env: flagenv reports a variable
// that does not parse (a duration without unit, a word for a number) before
// it prints usage, so a bad value fails here as it would at start.
func checkValues(t *testing.T, where, program string, env map[string]string) {
	t.Helper()
	cmd := exec.Command(bin+"/"+program, "--help")
	cmd.Env = cleanEnv(env)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: %s refuses these settings: %v\n%s", where, program, err, firstLines(string(out), 3))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
