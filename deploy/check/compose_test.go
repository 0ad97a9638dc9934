package check

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeDir = "deploy/compose"

// loadCompose loads the compose file with the Compose specification's own
// loader: schema validation (an unknown key fails), interpolation with an
// empty environment (so the defaults in the file apply, not this shell's),
// anchors and merges resolved.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(root, composeDir))
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml")}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("ringchat", true) })
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

func serviceEnv(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

func runsMigrate(s types.ServiceConfig) bool {
	return slices.ContainsFunc(s.Entrypoint, func(w string) bool { return strings.HasSuffix(w, "ringchat-migrate") })
}

// Every service's RINGCHAT_* names are settings of the program it runs
// (README's table, --help) with values it accepts, and the stack is what the
// issue asks for: three Scylla nodes with their container flags, the migrate
// one-shot chatd waits for, two chatd nodes sharing a cluster secret, each
// advertising its own internal address, and a WebSocket-capable balancer.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	chatdSet, migrateSet := chatdSettings(t), migrateSettings(t)
	var scylla, chatd, migrate []string
	secrets := map[string]bool{}
	for name, s := range p.Services {
		env := serviceEnv(s)
		switch {
		case strings.HasPrefix(s.Image, "scylladb/scylla:"):
			scylla = append(scylla, name)
			for _, flag := range []string{"--smp", "--memory", "--overprovisioned"} {
				if !slices.Contains(s.Command, flag) {
					t.Errorf("%s: Scylla's container flag %s is not set (command %q)", name, flag, s.Command)
				}
			}
		case runsMigrate(s):
			migrate = append(migrate, name)
			checkNames(t, "compose "+name, keys(env), migrateSet, "ringchat-migrate")
			checkValues(t, "compose "+name, "ringchat-migrate", env)
		case s.Image == chatdImage(p):
			chatd = append(chatd, name)
			checkNames(t, "compose "+name, keys(env), chatdSet, "chatd")
			checkValues(t, "compose "+name, "chatd", env)
			secret := env["RINGCHAT_CLUSTER_SECRET"]
			if len(secret) < 16 {
				t.Errorf("%s: RINGCHAT_CLUSTER_SECRET of %d bytes; chatd wants at least 16", name, len(secret))
			}
			secrets[secret] = true
			host, port, err := net.SplitHostPort(env["RINGCHAT_ADVERTISE_ADDR"])
			if err != nil || host != name || port != "9091" {
				t.Errorf("%s: RINGCHAT_ADVERTISE_ADDR=%q; want %s:9091 (its own name, the image's internal port)", name, env["RINGCHAT_ADVERTISE_ADDR"], name)
			}
			shutdown := 15 * time.Second // chatd's default --shutdown-timeout
			if v, ok := env["RINGCHAT_SHUTDOWN_TIMEOUT"]; ok {
				if d, err := time.ParseDuration(v); err == nil {
					shutdown = d
				}
			}
			if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= shutdown {
				t.Errorf("%s: stop_grace_period must exceed chatd's shutdown timeout (%s): sockets close with 1012 first", name, shutdown)
			}
		default:
			checkNames(t, "compose "+name, keys(env), settings{}, "a service running neither chatd nor ringchat-migrate")
		}
	}
	if len(scylla) != 3 {
		t.Errorf("%d ScyllaDB services (%v); want a ring of three", len(scylla), scylla)
	}
	if len(migrate) != 1 {
		t.Fatalf("%d migrate services (%v); want one", len(migrate), migrate)
	}
	if len(chatd) != 2 {
		t.Errorf("%d chatd services (%v); want two", len(chatd), chatd)
	}
	if len(secrets) != 1 {
		t.Errorf("the chatd services have %d different cluster secrets; want one shared", len(secrets))
	}
	for _, name := range chatd {
		dep, ok := p.Services[name].DependsOn[migrate[0]]
		if !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s must wait for %s to complete successfully (depends_on condition %q)", name, migrate[0], dep.Condition)
		}
	}
	rf := serviceEnv(p.Services[migrate[0]])["RINGCHAT_DC_RF"]
	if !strings.HasSuffix(rf, ":"+strconv.Itoa(len(scylla))) {
		t.Errorf("%s: RINGCHAT_DC_RF=%q; want one replica per Scylla node (%d)", migrate[0], rf, len(scylla))
	}
	checkBalancer(t)
}

// chatdImage is the image the compose file builds (from the Dockerfile).
func chatdImage(p *types.Project) string {
	for _, s := range p.Services {
		if s.Build != nil && strings.HasSuffix(s.Build.Dockerfile, "deploy/docker/Dockerfile") {
			return s.Image
		}
	}
	return "(no service builds deploy/docker/Dockerfile)"
}

// checkBalancer: nginx passes the WebSocket upgrade on and waits longer than
// chatd's ping interval (25 s) and pong timeout (60 s) before it cuts an idle
// socket.
func checkBalancer(t *testing.T) {
	conf := string(repoFile(t, composeDir+"/nginx.conf"))
	for _, want := range []string{
		`proxy_http_version 1.1;`,
		`proxy_set_header Upgrade $http_upgrade;`,
		`proxy_set_header Connection $connection_upgrade;`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q: WebSocket upgrades would not pass", want)
		}
	}
	for _, key := range []string{"proxy_read_timeout", "proxy_send_timeout"} {
		m := regexp.MustCompile(`(?m)^\s*` + key + `\s+(\d+)s;`).FindStringSubmatch(conf)
		if m == nil {
			t.Errorf("nginx.conf sets no %s (nginx's 60 s default races chatd's 60 s pong timeout)", key)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n <= 60 {
			t.Errorf("nginx.conf %s %ss: want more than chatd's 60 s pong timeout", key, m[1])
		}
	}
}
