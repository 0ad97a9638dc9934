// Package cqltest gives tests a fresh, migrated keyspace on the real Cassandra
// node that `make test` starts. It never skips: no node is a loud failure.
package cqltest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/internal/faultproxy"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/schema"
)

// Hosts are the test node's contact points: RINGCHAT_CASSANDRA_HOSTS or 127.0.0.1:9042.
func Hosts() []string {
	if h := os.Getenv("RINGCHAT_CASSANDRA_HOSTS"); h != "" {
		return strings.Split(h, ",")
	}
	return []string{"127.0.0.1:9042"}
}

// Config is a CassandraConfig for the test node bound to keyspace ("" for none).
func Config(keyspace string) repo.CassandraConfig {
	c := repo.DefaultCassandraConfig()
	c.Hosts = Hosts()
	c.Keyspace = keyspace
	c.Timeout = 5 * time.Second // schema changes and a busy 2-core CI box
	return c
}

// AdminConfig is Config("") with a timeout long enough for schema changes,
// which on a busy 2-core node with several test packages at once can take
// well over Config's 5 s (CI saw CREATE KEYSPACE time out at 5 s).
func AdminConfig() repo.CassandraConfig {
	c := Config("")
	c.Timeout = 30 * time.Second
	return c
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]`)

// keyspaceLimit bounds making a test keyspace: on the shared 2-core node,
// under several packages' tests, a ring and a benchmark, CREATE KEYSPACE and
// the migrations took longer than the 2 minutes this once was.
const keyspaceLimit = 8 * time.Minute

// progressEvery is how often a keyspace still being made says so on stderr,
// with its step, so that a slow node is told from a hung one.
const progressEvery = 20 * time.Second

// migrate applies the schema (a variable so a test can make it fail).
var migrate = schema.Migrate

// CreateKeyspace makes a fresh keyspace named t_<prefix>_<random>, applies the
// schema with st, and returns a session bound to it. On any failure after
// CREATE KEYSPACE was sent it drops the keyspace again: a half-migrated one
// would be left on the node for good.
func CreateKeyspace(prefix string, st schema.Settings) (*gocql.Session, string, error) {
	prefix = unsafeChars.ReplaceAllString(strings.ToLower(prefix), "_")
	if len(prefix) > 30 {
		prefix = prefix[:30]
	}
	name := fmt.Sprintf("t_%s_%08x", prefix, rand.Uint32())
	s, err := createKeyspace(name, st, keyspaceLimit)
	return s, name, err
}

func createKeyspace(name string, st schema.Settings, limit time.Duration) (s *gocql.Session, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	step := progress(name)
	defer step("")
	step("connect")
	ddl := AdminConfig()
	admin, err := repo.Connect(ddl)
	if err != nil {
		return nil, fmt.Errorf("Cassandra not reachable at %v: run `make test` (it starts the local stack) or `make stack`: %w", Hosts(), err)
	}
	defer admin.Close()
	// From here the keyspace may exist, even when CREATE KEYSPACE timed out.
	defer func() {
		if err != nil {
			if derr := dropKeyspace(name); derr != nil {
				err = fmt.Errorf("%w (and dropping %s again failed: %v)", err, name, derr)
			}
		}
	}()
	step("create keyspace")
	if err := schema.CreateKeyspace(ctx, admin, name, schema.Replication{Class: "SimpleStrategy", Factor: 1}); err != nil {
		return nil, fmt.Errorf("create keyspace %s: %w", name, err)
	}
	ddl.Keyspace = name
	migrator, err := repo.Connect(ddl)
	if err != nil {
		return nil, err
	}
	step("migrate")
	_, err = migrate(ctx, migrator, st)
	migrator.Close()
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", name, err)
	}
	step("connect to it")
	return repo.Connect(Config(name))
}

// progress prints, every progressEvery until it is called with "", which
// step making keyspace name is at and how long it has taken.
func progress(name string) func(step string) {
	began := time.Now()
	var mu sync.Mutex
	current := ""
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				mu.Lock()
				fmt.Fprintf(os.Stderr, "cqltest: keyspace %s: %s, %s so far (limit %s)\n",
					name, current, time.Since(began).Round(time.Second), keyspaceLimit)
				mu.Unlock()
			}
		}
	}()
	return func(step string) {
		mu.Lock()
		defer mu.Unlock()
		if step == "" {
			if current != "" {
				close(done)
				current = ""
			}
			return
		}
		current = step
	}
}

// NewKeyspace is CreateKeyspace for one test: it fails the test on error and
// closes and drops the keyspace when the test ends.
func NewKeyspace(t testing.TB, st schema.Settings) (*gocql.Session, string) {
	t.Helper()
	s, name, err := CreateKeyspace(t.Name(), st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		DropKeyspace(name)
	})
	return s, name
}

// DropKeyspace removes a test keyspace, best effort.
func DropKeyspace(name string) { _ = dropKeyspace(name) }

func dropKeyspace(name string) error {
	admin, err := repo.Connect(AdminConfig())
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return admin.Query("DROP KEYSPACE IF EXISTS " + name).WithContext(ctx).Exec()
}

// ProxiedSession opens a session on keyspace whose every connection goes
// through a fault-injecting TCP proxy (faultproxy), whatever addresses the
// ring advertises, so a test can make the real node hang or vanish.
func ProxiedSession(t testing.TB, keyspace string, timeout time.Duration) (*gocql.Session, *faultproxy.Proxy) {
	t.Helper()
	proxy, err := faultproxy.Start(Hosts()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	cfg := Config(keyspace)
	cfg.Hosts = []string{proxy.Addr()}
	cfg.Timeout = timeout
	cluster, err := repo.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cluster.AddressTranslator = gocql.AddressTranslatorFunc(func(ip net.IP, _ int) (net.IP, int) {
		return ip, proxy.Port()
	})
	s, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, proxy
}

// Shared is one keyspace the tests of a test binary share (making one takes
// seconds): made on first use, dropped by Close, which TestMain calls after
// m.Run.
type Shared struct {
	prefix   string
	settings schema.Settings
	once     sync.Once
	session  *gocql.Session
	name     string
	err      error
}

// NewShared is a Shared keyspace named after prefix, migrated with st.
func NewShared(prefix string, st schema.Settings) *Shared {
	return &Shared{prefix: prefix, settings: st}
}

// Session is the shared keyspace's session; a keyspace that cannot be made
// fails the test.
func (s *Shared) Session(t testing.TB) *gocql.Session {
	t.Helper()
	s.once.Do(func() { s.session, s.name, s.err = CreateKeyspace(s.prefix, s.settings) })
	if s.err != nil {
		t.Fatalf("test keyspace: %v", s.err)
	}
	return s.session
}

// Name is the shared keyspace's name (making it on first use).
func (s *Shared) Name(t testing.TB) string {
	t.Helper()
	s.Session(t)
	return s.name
}

// Run runs the package's tests and then drops the keyspace: TestMain's
// os.Exit(shared.Run(m)).
func (s *Shared) Run(m *testing.M) int {
	code := m.Run()
	s.Close()
	return code
}

// Close drops the keyspace if one was made.
func (s *Shared) Close() {
	if s.session != nil {
		s.session.Close()
		DropKeyspace(s.name)
	}
}
