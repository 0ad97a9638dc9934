package cqltest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/schema"
)

// A keyspace whose migration fails is dropped again, not left on the node
// (every failed run used to leave one behind).
func TestFailedMigrationLeavesNoKeyspace(t *testing.T) {
	defer func(m func(context.Context, *gocql.Session, schema.Settings, ...schema.MigrateOption) ([]string, error)) {
		migrate = m
	}(migrate)
	migrate = func(ctx context.Context, s *gocql.Session, _ schema.Settings, _ ...schema.MigrateOption) ([]string, error) {
		// Part of a schema, then a failure, as a migration timing out does.
		if err := s.Query(`CREATE TABLE IF NOT EXISTS half (id int PRIMARY KEY)`).WithContext(ctx).Exec(); err != nil {
			return nil, err
		}
		return nil, errors.New("simulated migration failure")
	}
	_, name, err := CreateKeyspace("failed_migration", schema.DefaultSettings())
	if err == nil || !strings.Contains(err.Error(), "simulated migration failure") {
		t.Fatalf("CreateKeyspace with a failing migration: %v, want its error", err)
	}
	if strings.Contains(err.Error(), "dropping") {
		t.Fatalf("the keyspace was not dropped: %v", err)
	}
	admin, err := repo.Connect(AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n int
	if err := admin.Query(`SELECT COUNT(*) FROM system_schema.keyspaces WHERE keyspace_name = ?`, name).WithContext(ctx).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("keyspace %s is still on the node after its migration failed", name)
	}
}
