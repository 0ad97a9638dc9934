package schema

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every schema file and every CQL statement the shipped Go code holds must be
// in the subset Cassandra 5.0 and ScyllaDB both serve (issue 14, point 4).
func TestSchemaIsPortable(t *testing.T) {
	versions, err := Versions()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range versions {
		for i, stmt := range v.Statements {
			n++
			if err := CheckPortable(stmt); err != nil {
				t.Errorf("%s statement %d is not portable: %v\n%s", v.Name, i+1, err, stmt)
			}
		}
	}
	if n < 30 {
		t.Fatalf("checked only %d schema statements: the splitter lost some", n)
	}
}

func TestCodeCQLIsPortable(t *testing.T) {
	stmts := codeCQL(t, "..")
	perDir := map[string]int{}
	var all []string
	for _, s := range stmts {
		perDir[strings.SplitN(s.where, string(filepath.Separator), 2)[0]]++
		all = append(all, s.text)
		if err := CheckPortable(s.text); err != nil {
			t.Errorf("%s: not portable: %v\n%s", s.where, err, s.text)
		}
	}
	// The collector must see the statements it is meant to guard, or this test
	// passes on nothing: constants in repo/, snowflake/ and schema/, and the
	// statements repo/ builds from pieces.
	for dir, min := range map[string]int{"repo": 60, "snowflake": 3, "schema": 4} {
		if perDir[dir] < min {
			t.Errorf("found %d statements under %s/, want at least %d (collector broken?)", perDir[dir], dir, min)
		}
	}
	t.Logf("checked %d statements in the code: %v", len(stmts), perDir)
	joined := strings.Join(all, "\n")
	for _, want := range []string{
		"INSERT INTO users_by_handle (handle, user_id) VALUES (?, ?) IF NOT EXISTS",
		"UPDATE conversations_by_user USING TIMESTAMP ? SET ? WHERE user_id = ? AND conv_id = ?",
		"CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = true",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("collector missed %q", want)
		}
	}
}

// The collector finds a forbidden clause however the code builds the statement.
func TestCodeCQLCollectorFindsBadStatements(t *testing.T) {
	dir := t.TempDir()
	src := "package x\n\nconst q = `SELECT a FROM t WHERE b = ?`\n\n" +
		"func f(filter bool) string {\n\ts := q\n\tif filter {\n\t\ts += \" ALLOW FILTERING\"\n\t}\n" +
		"\treturn \"UPDATE t USING \" + s + \" TIMEOUT 5s SET a = ?\"\n}\n"
	if err := os.MkdirAll(filepath.Join(dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x", "x.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, s := range codeCQL(t, dir) {
		if CheckPortable(s.text) != nil {
			bad++
		}
	}
	if bad != 2 {
		t.Fatalf("flagged %d statements, want 2 (the ALLOW FILTERING piece and USING ... TIMEOUT)", bad)
	}
}

func TestCheckPortableRejects(t *testing.T) {
	for _, c := range []struct{ stmt, why string }{
		{`SELECT * FROM messages_by_conversation WHERE sender_id = ? ALLOW FILTERING`, "ALLOW FILTERING"},
		{`select * from t where a = ? allow   filtering`, "ALLOW FILTERING"},
		{`CREATE CUSTOM INDEX ON users (handle) USING 'StorageAttachedIndex'`, "custom index"},
		{`CREATE CUSTOM INDEX IF NOT EXISTS ix ON t (v) USING 'org.apache.cassandra.index.sasi.SASIIndex'`, "custom index"},
		{`CREATE INDEX IF NOT EXISTS users_email ON users (email)`, "secondary index"},
		{`CREATE MATERIALIZED VIEW v AS SELECT * FROM t WHERE a IS NOT NULL PRIMARY KEY (a)`, "materialized view"},
		{`CREATE OR REPLACE FUNCTION f (x int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS 'return x;'`, "user-defined function"},
		{`CREATE AGGREGATE a (int) SFUNC f STYPE int`, "user-defined function"},
		{`CREATE TRIGGER tr ON t USING 'org.example.Trigger'`, "trigger"},
		{`SELECT a FROM t WHERE k = ? USING TIMEOUT 100ms`, "USING TIMEOUT"},
		{`INSERT INTO t (a) VALUES (?) USING TTL 10 AND TIMEOUT 1s`, "USING TIMEOUT"},
		{`SELECT a FROM t WHERE k = ? BYPASS CACHE`, "BYPASS CACHE"},
		{`CREATE TABLE t (k int PRIMARY KEY, v vector<float, 3>)`, "vector"},
		{`CREATE TABLE t (k int PRIMARY KEY, v text MASKED WITH mask_inner(1, 1))`, "masking"},
		{`SELECT map_keys(m) FROM t WHERE k = ?`, "Cassandra 5.0 function"},
		{`SELECT a FROM t WHERE b LIKE 'x%'`, "LIKE"},
		{`BEGIN TRANSACTION UPDATE t SET a = 1 WHERE k = 1; COMMIT TRANSACTION`, "Accord"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH compaction = {'class': 'UnifiedCompactionStrategy'}`, "compaction class UnifiedCompactionStrategy"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH compaction = {'class': 'org.apache.cassandra.db.compaction.UnifiedCompactionStrategy'}`, "compaction class UnifiedCompactionStrategy"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH compaction = {'class': 'DateTieredCompactionStrategy'}`, "compaction class DateTiered"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH compaction = {'class': 'IncrementalCompactionStrategy'}`, "compaction class Incremental"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH compression = {'class': 'ZstdCompressor'}`, "compression class Zstd"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH memtable = 'trie'`, "table option memtable"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH cdc = true`, "table option cdc"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH read_repair = 'NONE'`, "table option read_repair"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH caching = {'keys': 'ALL'}`, "table option caching"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH gc_grace_seconds = 10 AND per_partition_rate_limit = {'max_writes_per_second': 10}`, "table option per_partition_rate_limit"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH tombstone_gc = {'mode': 'repair'}`, "table option tombstone_gc"},
		{`CREATE TABLE t (k int PRIMARY KEY) WITH COMPACT STORAGE`, "COMPACT STORAGE"},
		{`ALTER TABLE t WITH crc_check_chance = 0.5`, "table option crc_check_chance"},
		{`CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3} AND tablets = {'enabled': false}`, "tablets"},
		{`CREATE KEYSPACE k WITH replication = {'class': 'OldNetworkTopologyStrategy', 'dc1': 3}`, "replication class OldNetworkTopologyStrategy"},
		{`CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3/1'}`, "transient"},
	} {
		err := CheckPortable(c.stmt)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("want a rejection naming %q, got %v:\n%s", c.why, err, c.stmt)
		}
	}
}

// What the schema does use must pass, or the check would be switched off.
func TestCheckPortableAccepts(t *testing.T) {
	for _, stmt := range []string{
		`SELECT body FROM messages_by_conversation WHERE conv_id = ? AND bucket = ? AND msg_id < ? LIMIT ?`,
		`INSERT INTO send_dedupe (sender_id, client_msg_id) VALUES (?, ?) IF NOT EXISTS USING TTL ?`,
		`INSERT INTO t (k, note) VALUES (?, 'ALLOW FILTERING is only a string here')`,
		`UPDATE t USING TTL ? SET a = ? WHERE k = ? IF EXISTS`,
		"CREATE TABLE IF NOT EXISTS inbox_by_user (\n  user_id bigint, -- a comment with LIKE\n  bucket int, event_id bigint,\n" +
			"  PRIMARY KEY ((user_id, bucket), event_id)\n) WITH CLUSTERING ORDER BY (event_id ASC)\n" +
			"  AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'DAYS', 'compaction_window_size': 1}\n" +
			"  AND default_time_to_live = 2592000 AND gc_grace_seconds = 10800",
		`CREATE TABLE t (k int PRIMARY KEY, m map<text, int>) WITH compression = {'class': 'LZ4Compressor', 'chunk_length_in_kb': 16} AND comment = 'x AND y'`,
		`CREATE TABLE t (k int PRIMARY KEY) WITH compaction = {'class': 'org.apache.cassandra.db.compaction.LeveledCompactionStrategy'}`,
		`ALTER TABLE members_by_conversation ADD role text`,
		`CREATE KEYSPACE IF NOT EXISTS k WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 1} AND durable_writes = true`,
		`BEGIN BATCH INSERT INTO a (k) VALUES (?); INSERT INTO b (k) VALUES (?); APPLY BATCH`,
	} {
		if err := CheckPortable(stmt); err != nil {
			t.Errorf("rejected a portable statement: %v\n%s", err, stmt)
		}
	}
}

type foundCQL struct{ where, text string }

// cqlStart is how the code's CQL begins; upper case, as the project writes it,
// so a log message ("update user") is not taken for a statement.
var cqlStart = regexp.MustCompile(`^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+(SET|USING)\s|DELETE\s|BEGIN\s|CREATE\s|ALTER\s|DROP\s|TRUNCATE\s|USE\s)`)

// codeCQL returns the CQL in the non-test Go files under root: string
// constants and literals, and +-joined strings with each non-literal operand
// shown as ?. A literal holding ALLOW FILTERING counts wherever it stands.
func codeCQL(t *testing.T, root string) []foundCQL {
	t.Helper()
	var out []foundCQL
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.HasSuffix(path, filepath.Join("schema", "portable.go")) { // the rules name what they forbid
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			var text string
			switch e := n.(type) {
			case *ast.BinaryExpr:
				if e.Op != token.ADD {
					return true
				}
				text = joinOperands(e)
			case *ast.BasicLit:
				if e.Kind != token.STRING {
					return true
				}
				text, _ = strconv.Unquote(e.Value)
			default:
				return true
			}
			if cqlStart.MatchString(text) || strings.Contains(strings.ToUpper(text), "ALLOW FILTERING") {
				out = append(out, foundCQL{where: rel + ":" + strconv.Itoa(fset.Position(n.Pos()).Line), text: text})
			}
			// A joined string was read whole; its literals alone are pieces of it.
			_, joined := n.(*ast.BinaryExpr)
			return !joined || !cqlStart.MatchString(text)
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func joinOperands(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			return joinOperands(x.X) + joinOperands(x.Y)
		}
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			s, _ := strconv.Unquote(x.Value)
			return s
		}
	case *ast.ParenExpr:
		return joinOperands(x.X)
	}
	return "?"
}

// ScyllaDB answers every conditional statement with the whole old row, so a
// positional ScanCAS that fits Cassandra's answer fails there (docs/scylla.md).
func TestNoPositionalScanCAS(t *testing.T) {
	var found []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "ScanCAS" {
				found = append(found, fset.Position(sel.Pos()).String())
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("ScanCAS reads an LWT answer by position; use MapScanCAS: %v", found)
	}
}

func TestSchemaFileNumbersAreUnique(t *testing.T) {
	if _, err := Versions(); err != nil {
		t.Fatalf("embedded schema files: %v", err)
	}
	for _, bad := range [][]string{
		{"0001_core.cql", "0001_other.cql"},
		{"0001_core.cql", "1_short.cql"},
		{"0001_core.cql", "0002_Upper.cql"},
	} {
		if err := checkFileNames(bad); err == nil {
			t.Errorf("checkFileNames(%q) passed", bad)
		}
	}
	if err := checkFileNames([]string{"0001_core.cql", "0002_media.cql"}); err != nil {
		t.Errorf("good names refused: %v", err)
	}
}
