package snowflake_test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/gocql/gocql"
	"go.uber.org/goleak"

	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

// TestMain fails the package if any goroutine (a lease's renewal, a driver
// connection of a closed session) outlives the tests.
// (goleak.VerifyTestMain would check before the shared keyspace is closed.)
func TestMain(m *testing.M) {
	if ks := os.Getenv(envKeyspace); ks != "" {
		runLeaseHelper(ks) // a lease test's child process
	}
	code := m.Run()
	closeShared()
	if code == 0 {
		// gocql v1.7.0 answers a keyspace schema event (any client creating or
		// dropping a keyspace on the node) in a goroutine that Session.Close
		// does not stop: it polls for schema agreement until
		// MaxWaitSchemaAgreement (60 s) once its connection is closed.
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/gocql/gocql.(*Session).handleSchemaEvent")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// The lease tests share one keyspace (creating one takes seconds), each test
// working on its own node ids; only the test that fills the table has its own.
var shared struct {
	once    sync.Once
	session *gocql.Session
	name    string
	err     error
}

func sharedKeyspace(t *testing.T) (*gocql.Session, string) {
	t.Helper()
	shared.once.Do(func() {
		shared.session, shared.name, shared.err = cqltest.CreateKeyspace("snowflake", schema.DefaultSettings())
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.session, shared.name
}

func closeShared() {
	if shared.session != nil {
		shared.session.Close()
		cqltest.DropKeyspace(shared.name)
	}
}
