package webpushtest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind (a connection
// the Sender or the test server did not close).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
