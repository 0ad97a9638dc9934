package snowflake_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine (a lease's renewal, a driver
// connection of a closed session) outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
