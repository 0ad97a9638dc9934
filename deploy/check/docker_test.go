package check

import (
	"bytes"
	"net"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

const dockerfile = "deploy/docker/Dockerfile"

// instruction is one Dockerfile line as BuildKit's parser reads it.
type instruction struct {
	cmd   string   // lower case: from, run, copy, ...
	args  []string // the parser's argument nodes, in order
	flags []string // --from=build, --interval=10s, ...
	json  bool     // exec form ["a", "b"]
	line  int
}

type stage struct {
	image, name string
	steps       []instruction
}

// parseDockerfile reads the Dockerfile with BuildKit's own parser (what
// `docker build` runs) and groups its instructions by stage. A parser
// warning (an empty continuation line, say) fails the test.
func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(repoFile(t, dockerfile)))
	if err != nil {
		t.Fatalf("%s: %v", dockerfile, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s:%d: %s", dockerfile, w.Location.Start.Line, w.Short)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, json: n.Attributes["json"], line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "from" {
			s := stage{image: in.args[0]}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "as") {
				s.name = in.args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "arg" {
				t.Fatalf("%s:%d: %s before FROM", dockerfile, in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].steps = append(stages[len(stages)-1].steps, in)
	}
	if len(stages) < 2 {
		t.Fatalf("%s: %d stages; want a build stage and a small runtime stage", dockerfile, len(stages))
	}
	return stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.steps {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// The image's build step is `make build`'s: same packages, flags and
// CGO_ENABLED (only the output directory differs), and the runtime stage
// ships what it built, as a non-root user, with a HEALTHCHECK, chatd as its
// entrypoint and listeners that answer outside the container.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	want := makeBuild(t)

	// The build stage: the Go of go.mod, one go build, the Makefile's.
	build := stages[0]
	goMod := string(repoFile(t, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(goMod)
	if goVersion == nil || !strings.HasPrefix(build.image, "golang:"+goVersion[1]+"-") && build.image != "golang:"+goVersion[1] {
		t.Errorf("build stage FROM %s; want golang:%s (go.mod's version)", build.image, goVersion[1])
	}
	var got []goBuild
	for _, run := range build.all("run") {
		if run.json || len(run.args) != 1 {
			continue
		}
		if strings.Contains(run.args[0], "go build") {
			b, err := parseGoBuild(run.args[0])
			if err != nil {
				t.Fatalf("%s:%d: %v", dockerfile, run.line, err)
			}
			got = append(got, b)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%s: %d go build steps; want one, the Makefile's", dockerfile, len(got))
	}
	b := got[0]
	if !maps(b.env, want.env) {
		t.Errorf("Dockerfile builds with %v; make build with %v", b.env, want.env)
	}
	if !slices.Equal(b.flags, want.flags) {
		t.Errorf("Dockerfile's go build flags %q; make build's %q", b.flags, want.flags)
	}
	if !slices.Equal(b.pkgs, want.pkgs) {
		t.Errorf("Dockerfile builds %q; make build builds %q", b.pkgs, want.pkgs)
	}

	// The runtime stage.
	final := stages[len(stages)-1]
	if i := strings.LastIndex(final.image, ":"); i < 0 || strings.HasSuffix(final.image, ":latest") || strings.HasPrefix(final.image, "golang") {
		t.Errorf("runtime stage FROM %s; want a small base pinned by tag", final.image)
	}
	shipped := map[string]string{} // binary -> where it lands
	for _, c := range final.all("copy") {
		if !slices.Contains(c.flags, "--from="+build.name) {
			continue
		}
		dest := c.args[len(c.args)-1]
		for _, src := range c.args[:len(c.args)-1] {
			if path.Dir(src) == path.Clean(b.out) || path.Dir(src)+"/" == b.out {
				shipped[path.Base(src)] = path.Join(dest, path.Base(src))
			}
		}
	}
	for _, name := range b.binaries() {
		if shipped[name] == "" {
			t.Errorf("the runtime stage does not copy %s from %s", name, b.out)
		}
	}
	users := final.all("user")
	if len(users) == 0 {
		t.Error("the runtime stage sets no USER: the image would run as root")
	} else if u, _, _ := strings.Cut(users[len(users)-1].args[0], ":"); u == "root" || u == "0" {
		t.Errorf("the runtime stage runs as %s", users[len(users)-1].args[0])
	}
	hc := final.all("healthcheck")
	if len(hc) != 1 || len(hc[0].args) < 2 || !strings.EqualFold(hc[0].args[0], "CMD") {
		t.Fatalf("the runtime stage needs one HEALTHCHECK CMD (got %v)", hc)
	}
	probe := hc[0].args[1]
	if strings.HasPrefix(probe, "[") { // the exec form's arguments as one JSON node
		probe = strings.Trim(strings.SplitN(strings.Trim(probe, "[]"), ",", 2)[0], ` "`)
	}
	if !slices.Contains(mapValues(shipped), probe) {
		t.Errorf("HEALTHCHECK runs %s, which is none of the binaries built (%v)", probe, shipped)
	}
	ep := final.all("entrypoint")
	if len(ep) != 1 || !ep[0].json || ep[0].args[0] != shipped["chatd"] {
		t.Errorf("ENTRYPOINT should be [%q] (exec form, so chatd gets SIGTERM)", shipped["chatd"])
	}

	// ENV: chatd's settings only, values chatd accepts, listeners off
	// loopback, and EXPOSE the ports they bind.
	env := map[string]string{}
	for _, e := range final.all("env") {
		// The parser gives each variable as name, value, separator.
		if len(e.args)%3 != 0 {
			t.Fatalf("%s:%d: ENV parsed as %q, not name-value-separator triples", dockerfile, e.line, e.args)
		}
		for i := 0; i+2 < len(e.args); i += 3 {
			env[e.args[i]] = e.args[i+1]
		}
	}
	checkNames(t, dockerfile+" ENV", keys(env), chatdSettings(t), "chatd")
	checkValues(t, dockerfile+" ENV", "chatd", env)
	var ports []string
	for _, name := range []string{"RINGCHAT_LISTEN", "RINGCHAT_ADMIN_LISTEN", "RINGCHAT_INTERNAL_LISTEN"} {
		host, port, err := net.SplitHostPort(env[name])
		if err != nil || net.ParseIP(host) == nil || net.ParseIP(host).IsLoopback() {
			t.Errorf("ENV %s=%q: want an address on every interface (chatd's default is loopback)", name, env[name])
		}
		ports = append(ports, port)
	}
	var exposed []string
	for _, e := range final.all("expose") {
		exposed = append(exposed, e.args...)
	}
	slices.Sort(ports)
	slices.Sort(exposed)
	if !slices.Equal(ports, exposed) {
		t.Errorf("EXPOSE %v; the listeners bind %v", exposed, ports)
	}

	// The context is the repo root: its caches must stay out of it.
	ignore := string(repoFile(t, dockerfile+".dockerignore"))
	for _, dir := range []string{".cache", ".stack", ".git"} {
		if !regexp.MustCompile(`(?m)^/?` + regexp.QuoteMeta(dir) + `/?$`).MatchString(ignore) {
			t.Errorf("%s.dockerignore does not leave out %s", dockerfile, dir)
		}
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
