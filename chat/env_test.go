package chat

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

// The app's own tests run it against the real Cassandra node, on one
// keyspace for the package; its rules are tested through the REST and
// WebSocket doors in api/ and cmd/chatd/.

var shared = cqltest.NewShared("chat", schema.DefaultSettings())

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

// pushed records what the app pushes: the sockets are delivery's, tested there.
type pushed struct {
	mu     sync.Mutex
	events []string
}

func (p *pushed) Push(_ []int64, kind string, _ int64, _ []byte, _ time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, kind)
	return 0
}

func (p *pushed) EndDevice(int64, int64, string) {}

// newTestApp is an app with the default config on the shared keyspace.
func newTestApp(t *testing.T) *App {
	t.Helper()
	gen, err := snowflake.NewGenerator(1)
	if err != nil {
		t.Fatal(err)
	}
	store := repo.NewStore(shared.Session(t), repo.Layout{}, repo.DefaultRetention())
	return New(DefaultConfig(), Deps{Store: store, IDs: gen, Delivery: &pushed{}})
}
