package schema

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/repo"
)

const (
	cqlMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    checksum   text,
    applied_at timestamp
)`
	cqlApplied      = `SELECT version, checksum FROM schema_migrations`
	cqlRecord       = `INSERT INTO schema_migrations (version, checksum, applied_at) VALUES (?, ?, ?)`
	cqlClaimSetting = `INSERT INTO ringchat_settings (name, value) VALUES (?, ?) IF NOT EXISTS`
	cqlSetting      = `SELECT value FROM ringchat_settings WHERE name = ?`
)

// CreateKeyspace creates the keyspace if it does not exist. s need not be bound to a keyspace.
func CreateKeyspace(ctx context.Context, s *gocql.Session, keyspace string, r Replication) error {
	if !ValidKeyspace(keyspace) {
		return fmt.Errorf("bad keyspace name %q: want [a-z_][a-z0-9_]{0,47}", keyspace)
	}
	repl, err := r.CQL()
	if err != nil {
		return err
	}
	stmt := fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = true", keyspace, repl)
	if err := s.Query(stmt).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("create keyspace %s: %w", keyspace, err)
	}
	return awaitAgreement(ctx, s)
}

// EnsureKeyspace creates keyspace with r unless it exists. CREATE KEYSPACE IF
// NOT EXISTS keeps an existing keyspace's replication whatever was asked, so
// `up --dc-rf dc1:3,dc2:1` on a keyspace made with --rf 3 would leave dc2
// without a replica: with strict (replication asked for), a keyspace holding
// another one is an error saying how to change it.
func EnsureKeyspace(ctx context.Context, s *gocql.Session, keyspace string, r Replication, strict bool) error {
	has, err := KeyspaceReplication(ctx, s, keyspace)
	if err != nil {
		return err
	}
	if has == nil {
		return CreateKeyspace(ctx, s, keyspace, r)
	}
	if strict && !r.Matches(has) {
		want, _ := r.CQL()
		return fmt.Errorf("keyspace %s exists with replication %v, not the %s asked: change it with ALTER KEYSPACE (then nodetool repair on every node), or drop the replication flags", keyspace, has, want)
	}
	return nil
}

// KeyspaceReplication is keyspace's replication as Cassandra holds it, nil
// when the keyspace does not exist.
func KeyspaceReplication(ctx context.Context, s *gocql.Session, keyspace string) (map[string]string, error) {
	var repl map[string]string
	err := s.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, keyspace).WithContext(ctx).Scan(&repl)
	if errors.Is(err, gocql.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read keyspace %s's replication: %w", keyspace, err)
	}
	return repl, nil
}

// applied returns version -> checksum of what the keyspace has recorded.
func applied(ctx context.Context, s *gocql.Session) (map[string]string, error) {
	out := map[string]string{}
	exists, err := tableExists(ctx, s, "schema_migrations")
	if err != nil {
		return nil, err
	}
	if !exists {
		return out, nil // a keyspace never migrated: everything is pending
	}
	iter := s.Query(cqlApplied).WithContext(ctx).Iter()
	var v, sum string
	for iter.Scan(&v, &sum) {
		out[v] = sum
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return out, nil
}

// Pending lists the embedded versions the keyspace has not applied. It fails
// when an applied version's file has changed since.
func Pending(ctx context.Context, s *gocql.Session) ([]Version, error) {
	versions, err := Versions()
	if err != nil {
		return nil, err
	}
	done, err := applied(ctx, s)
	if err != nil {
		return nil, err
	}
	var pending []Version
	for _, v := range versions {
		sum, ok := done[v.Name]
		switch {
		case !ok:
			pending = append(pending, v)
		case sum != v.Checksum:
			return nil, fmt.Errorf("schema version %s was edited after it was applied (checksum %s, applied %s): add a new version instead", v.Name, v.Checksum[:12], sum[:min(12, len(sum))])
		}
	}
	return pending, nil
}

// Migrate applies every pending version in order, then records st in
// ringchat_settings (the first values written stick).
func Migrate(ctx context.Context, s *gocql.Session, st Settings, opts ...MigrateOption) ([]string, error) {
	var o migrateOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := execDDL(ctx, s, cqlMigrationsTable); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	pending, err := Pending(ctx, s)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, v := range pending {
		// A version interrupted part-way (a crash, a lost connection) is not
		// recorded, so the next run applies it again from its first statement:
		// each statement is safe to repeat (see execDDL).
		for i, stmt := range v.Statements {
			if err := execDDL(ctx, s, stmt); err != nil {
				return names, fmt.Errorf("apply %s statement %d: %w", v.Name, i+1, err)
			}
			if o.afterStatement != nil {
				if err := o.afterStatement(v.Name, i+1); err != nil {
					return names, fmt.Errorf("apply %s statement %d: %w", v.Name, i+1, err)
				}
			}
		}
		if err := awaitAgreement(ctx, s); err != nil {
			return names, err
		}
		if err := s.Query(cqlRecord, v.Name, v.Checksum, time.Now().UTC()).WithContext(ctx).Exec(); err != nil {
			return names, fmt.Errorf("record %s: %w", v.Name, err)
		}
		names = append(names, v.Name)
	}
	return names, writeSettings(ctx, s, st)
}

func awaitAgreement(ctx context.Context, s *gocql.Session) error {
	if err := s.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("await schema agreement: %w", err)
	}
	return nil
}

var settingNames = []string{"message_bucket_ms", "inbox_bucket_ms"}

func writeSettings(ctx context.Context, s *gocql.Session, st Settings) error {
	want := []time.Duration{st.MessageBucket, st.InboxBucket}
	for i, name := range settingNames {
		if want[i] < 100*time.Millisecond {
			// Smaller windows would overflow the int bucket column within years.
			return fmt.Errorf("setting %s must be at least 100ms", name)
		}
		value := strconv.FormatInt(want[i].Milliseconds(), 10)
		// SERIAL: every DC must agree on the layout. By column name: ScyllaDB
		// answers with the old row even when it applied (docs/scylla.md).
		row := map[string]any{}
		applied, err := s.Query(cqlClaimSetting, name, value).WithContext(ctx).SerialConsistency(gocql.Serial).MapScanCAS(row)
		got, _ := row["value"].(string)
		if err != nil {
			return fmt.Errorf("write setting %s: %w", name, err)
		}
		if !applied && got != value {
			return fmt.Errorf("keyspace already has %s = %s; asked for %s: bucket sizes cannot change on existing data", name, got, value)
		}
	}
	return nil
}

// LoadSettings reads the layout a keyspace was created with.
func LoadSettings(ctx context.Context, s *gocql.Session) (Settings, error) {
	var vals [2]time.Duration
	for i, name := range settingNames {
		var v string
		if err := s.Query(cqlSetting, name).WithContext(ctx).Scan(&v); err != nil {
			return Settings{}, fmt.Errorf("read setting %s (run ringchat-migrate up): %w", name, err)
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 1 {
			return Settings{}, fmt.Errorf("setting %s has bad value %q", name, v)
		}
		vals[i] = time.Duration(ms) * time.Millisecond
	}
	return Settings{MessageBucket: vals[0], InboxBucket: vals[1]}, nil
}

// CheckCurrent fails unless every embedded version is applied: chatd refuses
// to serve an out-of-date keyspace, and the message says how to migrate.
func CheckCurrent(ctx context.Context, s *gocql.Session) error {
	pending, err := Pending(ctx, s)
	if err != nil {
		return &repo.Error{Code: repo.CodeUnavailable, Message: "cannot read schema versions", Cause: err}
	}
	if len(pending) == 0 {
		return nil
	}
	names := make([]string, len(pending))
	for i, v := range pending {
		names[i] = v.Name
	}
	ks := s.Query("SELECT 1 FROM system.local").Keyspace()
	if ks == "" {
		ks = "ringchat"
	}
	return repo.Errorf(repo.CodeUnavailable, "keyspace %s has pending schema versions [%s]; run: ringchat-migrate up --keyspace %s",
		ks, strings.Join(names, " "), ks)
}

// MigrateOption changes how Migrate runs.
type MigrateOption func(*migrateOptions)

type migrateOptions struct {
	afterStatement func(version string, stmt int) error
}

// AfterStatement runs fn after each applied statement (stmt counts from 1);
// an error from it stops Migrate there, as a crash would. For tests of an
// interrupted migration; chatd and ringchat-migrate pass none.
func AfterStatement(fn func(version string, stmt int) error) MigrateOption {
	return func(o *migrateOptions) { o.afterStatement = fn }
}

var alterAdd = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+([a-z_][a-z0-9_]*)\s+ADD\s+([a-z_][a-z0-9_]*)\s+(.+)$`)

// execDDL runs one schema statement, retrying when the node was too busy to
// answer in time. Every statement is safe to repeat, so a version can be run
// again after a crash part-way through it: CREATE ... IF NOT EXISTS
// (TestVersionsParse requires it), and ALTER TABLE ... ADD is skipped when
// the column is already there with the type the file gives it.
func execDDL(ctx context.Context, s *gocql.Session, stmt string) error {
	if m := alterAdd.FindStringSubmatch(strings.TrimSpace(stmt)); m != nil {
		typ, err := columnType(ctx, s, strings.ToLower(m[1]), strings.ToLower(m[2]))
		if err != nil {
			return err
		}
		want := strings.ToLower(strings.Join(strings.Fields(m[3]), " "))
		switch {
		case typ == want:
			return nil // an earlier, interrupted run added it
		case typ != "":
			return fmt.Errorf("%s.%s exists as %s, the schema wants %s", m[1], m[2], typ, want)
		}
	}
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		err = s.Query(stmt).WithContext(ctx).Exec()
		if err == nil {
			return nil
		}
		if attempt > 0 && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stmt)), "ALTER TABLE") &&
			strings.Contains(strings.ToLower(err.Error()), "already exist") {
			return nil // our own timed-out first attempt landed
		}
		if !repo.IsCode(repo.Translate(err), repo.CodeUnavailable) {
			return err
		}
	}
	return err
}

// columnType is a column's CQL type in the session's keyspace, "" when absent.
func columnType(ctx context.Context, s *gocql.Session, table, column string) (string, error) {
	var typ string
	err := s.Query(`SELECT type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?`,
		s.Query("SELECT 1 FROM system.local").Keyspace(), table, column).WithContext(ctx).Scan(&typ)
	if errors.Is(err, gocql.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up column %s.%s: %w", table, column, err)
	}
	return strings.ToLower(typ), nil
}

func tableExists(ctx context.Context, s *gocql.Session, table string) (bool, error) {
	var name string
	err := s.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`,
		s.Query("SELECT 1 FROM system.local").Keyspace(), table).WithContext(ctx).Scan(&name)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up table %s: %w", table, err)
	}
	return true, nil
}
