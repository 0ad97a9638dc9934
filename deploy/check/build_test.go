package check

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goBuild is one `go build` command line, as a shell would split it.
type goBuild struct {
	env   map[string]string // NAME=value words before the command
	flags []string          // in order, -o excluded
	out   string            // -o
	pkgs  []string
}

// parseGoBuild finds `go build` in a shell command (one simple command:
// NAME=value words, go build, its flags, its packages).
func parseGoBuild(cmd string) (goBuild, error) {
	words, err := splitWords(cmd)
	if err != nil {
		return goBuild{}, err
	}
	b := goBuild{env: map[string]string{}}
	i := 0
	for ; i < len(words) && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[i]); i++ {
		k, v, _ := strings.Cut(words[i], "=")
		b.env[k] = v
	}
	if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
		return goBuild{}, fmt.Errorf("not a go build command: %q", cmd)
	}
	for i += 2; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-o":
			if i+1 == len(words) {
				return goBuild{}, fmt.Errorf("-o without a value in %q", cmd)
			}
			i++
			b.out = words[i]
		case strings.HasPrefix(w, "-"):
			if !strings.Contains(w, "=") && !slices.Contains([]string{"-trimpath", "-race", "-a", "-v", "-x"}, w) {
				return goBuild{}, fmt.Errorf("write %s as %s=value, so the two build lines compare word for word", w, w)
			}
			b.flags = append(b.flags, w)
		case w == "&&" || w == ";" || w == "|":
			return goBuild{}, fmt.Errorf("more than one command in %q", cmd)
		default:
			b.pkgs = append(b.pkgs, w)
		}
	}
	return b, nil
}

// splitWords splits a command line as sh does for quotes and backslashes
// (no expansions: neither build line uses any).
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inWord = true
			}
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '$' || c == '`':
			return nil, fmt.Errorf("expansion in %q: keep the build line literal", s)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// makeBuild is what `make build` runs, from make itself (-n prints the
// recipe with its variables expanded).
func makeBuild(t *testing.T) goBuild {
	t.Helper()
	cmd := exec.Command("make", "-n", "-s", "--no-print-directory", "build")
	cmd.Dir = root
	// A make running this test passes its flags down; this one must only print.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAKEFLAGS=") && !strings.HasPrefix(kv, "MFLAGS=") && !strings.HasPrefix(kv, "MAKELEVEL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("make build runs %d commands; want one go build:\n%s", len(lines), out)
	}
	b, err := parseGoBuild(lines[0])
	if err != nil {
		t.Fatalf("make build: %v", err)
	}
	return b
}

// binaries are the names the build writes: one per package, its last element.
func (b goBuild) binaries() []string {
	var out []string
	for _, p := range b.pkgs {
		out = append(out, path.Base(p))
	}
	return out
}

// The static, trimmed build the issue asks for is the Makefile's.
func TestMakeBuildIsStatic(t *testing.T) {
	b := makeBuild(t)
	if b.env["CGO_ENABLED"] != "0" {
		t.Errorf("make build: CGO_ENABLED=%q; want 0 (a static binary for a base without libc)", b.env["CGO_ENABLED"])
	}
	if !slices.Contains(b.flags, "-trimpath") {
		t.Errorf("make build: no -trimpath in %q", b.flags)
	}
	for _, want := range []string{"./cmd/chatd", "./cmd/ringchat-migrate"} {
		if !slices.Contains(b.pkgs, want) {
			t.Errorf("make build does not build %s (builds %q)", want, b.pkgs)
		}
	}
}
