package layering_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ringchat/ringchat"

// A pattern names packages: "/repo" is the module's repo package and
// "/repo/..." it and everything below it; without the leading slash a
// pattern is an import path as written ("net/http", "github.com/gocql/gocql/...").
//
// A rule governs the packages of from (less except) and forbids them the
// imports of deny (less allow). By default it reads the direct imports of
// the package's non-test files; tests adds its _test.go files' imports, and
// deep reads every package the non-test files link, however indirectly.
type rule struct {
	name   string
	from   []string
	except []string
	deny   []string
	allow  []string
	tests  bool
	deep   bool
	why    string
}

// The transports' libraries.
const (
	echo      = "github.com/labstack/echo/..."
	websocket = "github.com/gorilla/websocket/..."
)

// helpers are the test-support packages: real chatd processes, the ring,
// throwaway keyspaces, a fault-injecting proxy, and the local servers that
// speak the push providers' protocols.
var helpers = []string{"/internal/testcluster", "/internal/ringtest", "/repo/cqltest", "/internal/faultproxy",
	"/notify/apns/apnstest", "/notify/fcm/fcmtest", "/notify/webpush/webpushtest", "/notify/webhook/webhooktest"}

// rules is the one table of the directions the packages keep. Each holds
// today; issue 15's steps tighten it (docs/architecture.md, "The shape issue
// 15 moves to"): a step that moves a package moves its rows, and a pattern
// naming a module package that no longer exists fails the test.
var rules = []rule{{
	name:   "nothing imports a main",
	from:   []string{"/..."},
	except: []string{"/cmd/..."},
	deny:   []string{"/cmd/..."},
	tests:  true,
	why:    "cmd/ holds thin mains wired last; code another package needs belongs in a library package",
}, {
	name:  "mains share only cmd/internal",
	from:  []string{"/cmd/..."},
	deny:  []string{"/cmd/..."},
	allow: []string{"/cmd/internal/..."},
	tests: true,
	why:   "what two mains share (flag + RINGCHAT_* parsing) lives in cmd/internal, not in one main another imports",
}, {
	name: "the store, schema, ids and presence link no transport",
	from: []string{"/repo", "/schema", "/snowflake", "/presence"},
	deny: []string{"/api/...", "/delivery/...", echo, websocket, "net/http/..."},
	deep: true,
	why:  "they are what the transports call: a CLI, the load generator and tests use them without an HTTP stack; nothing below the API may reach back up to it",
}, {
	name:  "the store and its tests stay below the API",
	from:  []string{"/repo/...", "/schema", "/snowflake", "/presence"},
	deny:  []string{"/api/...", "/delivery/...", echo, websocket},
	tests: true,
	why:   "a store behaviour is tested against Cassandra alone; needing chatd for it would say the rule lives in the wrong layer",
}, {
	name: "the S3 client serves nothing",
	from: []string{"/repo/objstore"},
	deny: []string{"/api/...", echo, websocket, "net/http/httptest", "net/http/pprof"},
	deep: true,
	why:  "presigning is a client of S3 (net/http as a client); media endpoints are the API's",
}, {
	name:   "test helpers only in tests",
	from:   []string{"/..."},
	except: helpers,
	deny:   append([]string{"testing"}, helpers...),
	deep:   true,
	why:    "the helpers start chatd processes, drop keyspaces and inject faults; no binary may link them (or package testing)",
}, {
	name: "the use cases know no transport",
	from: []string{"/chat"},
	deny: []string{"/api/...", "/delivery/...", echo, websocket, "net/http/..."},
	deep: true,
	why:  "chat holds the product's rules for every door (REST, frames, a CLI, push workers): it takes plain values and returns repo codes; the adapters map them to statuses and frames, and delivery reaches it through chat.Delivery",
}, {
	name:  "the use cases' tests stay below the transports",
	from:  []string{"/chat"},
	deny:  []string{"/api/...", echo, websocket},
	tests: true,
	why:   "a rule is tested through chat's own calls here, or through the doors in api/ and cmd/chatd/",
}, {
	name: "the frame adapter speaks no HTTP",
	from: []string{"/api/socket", "/api/wire"},
	deny: []string{echo, "net/http/...", "/api"},
	why:  "a frame is decoded, handed to one chat use case and answered with an ack or an error frame (api/socket/errors.go); statuses and Echo are the REST adapter's, and the upgrade is served by api",
}, {
	name:  "the hub knows no product",
	from:  []string{"/delivery/ws"},
	deny:  []string{"/api/...", "/delivery", "/repo/...", "/presence", "/snowflake", "/schema"},
	tests: true,
	why:   "it holds sockets and bounded queues; who may receive what is decided by its callers",
}, {
	name:  "routing between nodes sits below the API",
	from:  []string{"/delivery/..."},
	deny:  []string{"/api/...", "/presence", "/chat"},
	tests: true,
	why:   "the transports and the rules call delivery, never the other way; chat and presence reach it through their own interfaces",
}, {
	name:   "the driver stays at the storage edge",
	from:   []string{"/..."},
	except: []string{"/repo/...", "/schema", "/snowflake", "/api/obs", "/internal/ringtest", "/deploy/..."},
	deny:   []string{"github.com/gocql/gocql/...", "github.com/scylladb/gocqlx/..."},
	why:    "driver errors are translated once, in repo; above it code sees repo's *Error and codes (api/obs only observes queries and hosts)",
}, {
	name:   "Echo only in the HTTP adapters",
	from:   []string{"/..."},
	except: []string{"/api", "/api/obs"},
	deny:   []string{echo},
	tests:  true,
	why:    "an echo.Context must not reach the rules; the admin listener (api/obs) is the other HTTP surface",
}, {
	name:   "the WebSocket library only in the hub and its speakers",
	from:   []string{"/..."},
	except: []string{"/api", "/delivery/ws", "/cmd/ringchat-bench", "/cmd/ringchat", "/internal/testcluster"},
	deny:   []string{websocket},
	why:    "the hub owns the sockets (api only checks an upgrade); the load generator, the CLI and the test cluster are clients",
}, {
	name:   "the S3 SDK only behind repo/objstore",
	from:   []string{"/..."},
	except: []string{"/repo/objstore", "/deploy/..."},
	deny:   []string{"github.com/aws/..."},
	why:    "media presigning sits behind one small interface (chat.Objects); the dev bucket tool is apart",
}}

// pkg is what go list says of one package.
type pkg struct {
	ImportPath   string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

func TestImportsFollowTheLayers(t *testing.T) {
	pkgs := listModule(t)
	byPath := map[string]pkg{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	for _, r := range rules {
		checkPatterns(t, r, byPath)
	}
	var bad []string
	for _, p := range pkgs {
		for _, r := range rules {
			bad = append(bad, r.violations(p, byPath)...)
		}
	}
	slices.Sort(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

// checkPatterns fails a rule whose patterns name module packages that do not
// exist: after a move the rule would guard nothing.
func checkPatterns(t *testing.T, r rule, byPath map[string]pkg) {
	t.Helper()
	for _, group := range [][]string{r.from, r.except, r.deny, r.allow} {
		for _, pat := range group {
			if !strings.HasPrefix(pat, "/") {
				continue
			}
			found := false
			for path := range byPath {
				found = found || match(pat, path)
			}
			if !found {
				t.Errorf("rule %q: %s names no package of the module (moved? move the rule with it)", r.name, pat)
			}
		}
	}
}

// violations lists p's imports against r: one line per direct import, and
// for a deep rule one line per direct import that links forbidden packages.
func (r rule) violations(p pkg, byPath map[string]pkg) []string {
	if !matchAny(r.from, p.ImportPath) || matchAny(r.except, p.ImportPath) {
		return nil
	}
	denied := func(imp string) bool {
		return imp != p.ImportPath && matchAny(r.deny, imp) && !matchAny(r.allow, imp)
	}
	against := fmt.Sprintf("against %q: %s", r.name, r.why)
	var out []string
	lists := [][]string{p.Imports}
	if r.tests {
		lists = append(lists, p.TestImports, p.XTestImports)
	}
	for i, list := range lists {
		where := "imports"
		if i > 0 {
			where = "imports in its tests"
		}
		for _, imp := range list {
			if denied(imp) {
				out = append(out, fmt.Sprintf("%s %s %s, %s", short(p.ImportPath), where, short(imp), against))
			}
		}
	}
	if !r.deep {
		return slices.Compact(slices.Sorted(slices.Values(out)))
	}
	// Name the import that brings each forbidden package in: the import
	// itself, or a module package whose own dependencies hold it.
	through := map[string][]string{}
	for _, dep := range p.Deps {
		if !denied(dep) || slices.Contains(p.Imports, dep) {
			continue
		}
		via := "a dependency outside the module"
		for _, imp := range p.Imports {
			if q, ok := byPath[imp]; ok && slices.Contains(q.Deps, dep) {
				via = short(imp)
				break
			}
		}
		through[via] = append(through[via], short(dep))
	}
	for via, deps := range through {
		list := strings.Join(deps[:min(len(deps), 3)], ", ")
		if len(deps) > 3 {
			list += fmt.Sprintf(" and %d more", len(deps)-3)
		}
		out = append(out, fmt.Sprintf("%s links %s through %s, %s", short(p.ImportPath), list, via, against))
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

func match(pattern, path string) bool {
	if strings.HasPrefix(pattern, "/") {
		pattern = module + pattern
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

func short(path string) string {
	if rest, ok := strings.CutPrefix(path, module+"/"); ok {
		return rest
	}
	return path
}

// listModule asks the go command for every package of the module (the
// standard tool, so the test needs no dependency of its own).
func listModule(t *testing.T) []pkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to read the import graph: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-json=ImportPath,Imports,Deps,TestImports,XTestImports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages of %s: not the whole module", len(pkgs), module)
	}
	return pkgs
}
