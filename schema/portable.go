package schema

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// CheckPortable reports why stmt is outside the CQL subset that both Cassandra 5.0
// and ScyllaDB serve, or that the project forbids (ALLOW FILTERING, indexes and
// views that hide a query's cost). nil means portable. It is a lint, not a
// parser: it knows the statement shapes this project writes, and a test runs it
// over every schema file and every statement the code issues (portable_test.go).
//
// Sources: ScyllaDB's "ScyllaDB and Apache Cassandra Compatibility" page (table
// options, compaction and compression classes, triggers, UDFs), its CQL
// extensions page (USING TIMEOUT, BYPASS CACHE, per_partition_rate_limit,
// tombstone_gc, tablets), and Cassandra 5.0's CQL reference (SAI, vector,
// UnifiedCompactionStrategy, dynamic data masking, memtable options).
func CheckPortable(stmt string) error {
	text := collapse(stripComments(stmt))
	bare := collapse(blankLiterals(text)) // keywords inside '...' are data, not CQL
	var errs []error
	for _, r := range forbidden {
		if r.re.MatchString(bare) {
			errs = append(errs, errors.New(r.why))
		}
	}
	if opts, ok := tableOptions(text); ok {
		errs = append(errs, checkTableOptions(opts)...)
	}
	if m := replicationClass.FindStringSubmatch(text); m != nil && !portableReplication[strings.ToLower(m[1])] {
		errs = append(errs, fmt.Errorf("replication class %s: use SimpleStrategy or NetworkTopologyStrategy", m[1]))
	}
	if transientRF.MatchString(text) {
		errs = append(errs, errors.New("transient replication ('3/1'): Cassandra-only and experimental"))
	}
	return errors.Join(errs...)
}

type rule struct {
	re  *regexp.Regexp
	why string
}

func kw(pattern, why string) rule { return rule{regexp.MustCompile(`(?i)` + pattern), why} }

// forbidden are features matched on the statement with its string literals blanked.
var forbidden = []rule{
	kw(`\bALLOW\s+FILTERING\b`, "ALLOW FILTERING: a scan the project forbids; model a lookup table"),
	kw(`\bCREATE\s+CUSTOM\s+INDEX\b`, "custom index (SAI, SASI): ScyllaDB has neither"),
	kw(`\bCREATE\s+INDEX\b`, "secondary index: global (a hidden view) on ScyllaDB, node-local on Cassandra, so its cost differs; model a lookup table"),
	kw(`\bMATERIALIZED\s+VIEW\b`, "materialized view: experimental and off by default on Cassandra 5.0; model a table written by the code"),
	kw(`\b(CREATE|DROP)\s+(OR\s+REPLACE\s+)?(FUNCTION|AGGREGATE)\b`, "user-defined function or aggregate: Java-only on Cassandra, Lua/WASM and experimental on ScyllaDB"),
	kw(`\b(CREATE|DROP)\s+TRIGGER\b`, "trigger: ScyllaDB has none"),
	kw(`\bUSING\b.*\bTIMEOUT\s+(\d|\?|:\w)`, "USING TIMEOUT: a ScyllaDB extension Cassandra rejects; timeouts are driver configuration"),
	kw(`\bBYPASS\s+CACHE\b`, "BYPASS CACHE: a ScyllaDB extension Cassandra rejects"),
	kw(`\bPRUNE\s+MATERIALIZED\b|\bSERVICE_LEVEL\b|\bSERVICE\s+LEVEL\b`, "a ScyllaDB-only statement"),
	kw(`\bBEGIN\s+TRANSACTION\b`, "BEGIN TRANSACTION (Accord): not in Cassandra 5.0 nor ScyllaDB"),
	kw(`\bvector\s*<`, "vector type: Cassandra 5.0's, not in ScyllaDB's compatibility table"),
	kw(`\bMASKED\s+WITH\b|\bUNMASK\b|\bmask_[a-z_]+\s*\(`, "dynamic data masking: Cassandra 5.0 only"),
	kw(`\b(collection_(count|min|max|sum|avg)|map_keys|map_values|format_bytes|format_time|to_date|to_timestamp|to_unix_timestamp)\s*\(`, "a Cassandra 5.0 function ScyllaDB lacks"),
	kw(`\bCOMPACT\s+STORAGE\b`, "COMPACT STORAGE: deprecated, dropped by Cassandra 4.0+"),
	kw(`\bLIKE\b`, "LIKE: needs a SASI/SAI index on Cassandra"),
	kw(`\btablets\s*=`, "tablets: a ScyllaDB keyspace option Cassandra rejects"),
}

var (
	replicationClass    = regexp.MustCompile(`(?i)replication\s*=\s*\{[^}]*'class'\s*:\s*'(?:org\.apache\.cassandra\.locator\.)?([A-Za-z]+)'`)
	transientRF         = regexp.MustCompile(`'\d+/\d+'`)
	portableReplication = map[string]bool{"simplestrategy": true, "networktopologystrategy": true}
)

// portableTableOptions are the CREATE/ALTER TABLE options both serve and honour.
// Missing on purpose: caching and memtable_flush_period_in_ms (ScyllaDB ignores
// them), crc_check_chance, read_repair, additional_write_policy, memtable, cdc,
// allow_auto_snapshot, incremental_backups (Cassandra-only or a different syntax
// on ScyllaDB), per_partition_rate_limit, tombstone_gc, synchronous_updates,
// paxos_grace_seconds (ScyllaDB-only).
var portableTableOptions = map[string]bool{
	"bloom_filter_fp_chance": true, "comment": true, "compaction": true, "compression": true,
	"default_time_to_live": true, "gc_grace_seconds": true, "max_index_interval": true,
	"min_index_interval": true, "speculative_retry": true,
}

// Classes ScyllaDB's compatibility page lists as available. Not portable:
// UnifiedCompactionStrategy (Cassandra 5.0), DateTieredCompactionStrategy (gone
// from Cassandra 5.0), IncrementalCompactionStrategy (ScyllaDB Enterprise),
// ZstdCompressor (not in the table).
var (
	portableCompaction  = map[string]bool{"sizetieredcompactionstrategy": true, "leveledcompactionstrategy": true, "timewindowcompactionstrategy": true}
	portableCompression = map[string]bool{"lz4compressor": true, "snappycompressor": true, "deflatecompressor": true, "": true}
	mapClass            = regexp.MustCompile(`(?i)'(?:class|sstable_compression)'\s*:\s*'(?:org\.apache\.cassandra\.(?:db\.compaction|io\.compress)\.)?([A-Za-z]*)'`)
	createTableHead     = regexp.MustCompile(`(?i)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?[A-Za-z0-9_."]+\s*\(`)
	alterTableWith      = regexp.MustCompile(`(?i)^ALTER\s+TABLE\s+[A-Za-z0-9_."]+\s+WITH\s+(.*)$`)
	optionName          = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`)
	clusteringOrder     = regexp.MustCompile(`(?i)^CLUSTERING\s+ORDER\s+BY\b`)
	withKeyword         = regexp.MustCompile(`(?i)^WITH\b`)
)

func checkTableOptions(opts []string) []error {
	var errs []error
	for _, o := range opts {
		if clusteringOrder.MatchString(o) {
			continue
		}
		m := optionName.FindStringSubmatch(o)
		if m == nil {
			errs = append(errs, fmt.Errorf("table option %q: not a known form", o))
			continue
		}
		name := strings.ToLower(m[1])
		if !portableTableOptions[name] {
			errs = append(errs, fmt.Errorf("table option %s: not served (or not honoured) by both Cassandra 5.0 and ScyllaDB", name))
			continue
		}
		allowed := map[string]map[string]bool{"compaction": portableCompaction, "compression": portableCompression}[name]
		if allowed == nil {
			continue
		}
		for _, c := range mapClass.FindAllStringSubmatch(m[2], -1) {
			if !allowed[strings.ToLower(c[1])] {
				errs = append(errs, fmt.Errorf("%s class %s: not served by both Cassandra 5.0 and ScyllaDB", name, c[1]))
			}
		}
	}
	return errs
}

// tableOptions returns the WITH options of a CREATE or ALTER TABLE, split at
// top-level ANDs.
func tableOptions(stmt string) ([]string, bool) {
	var rest string
	if loc := createTableHead.FindStringIndex(stmt); loc != nil {
		end := closingParen(stmt, loc[1]-1)
		if end < 0 {
			return nil, false
		}
		rest = strings.TrimSpace(stmt[end+1:])
		if !withKeyword.MatchString(rest) {
			return nil, false
		}
		rest = strings.TrimSpace(rest[len("WITH"):])
	} else if m := alterTableWith.FindStringSubmatch(stmt); m != nil {
		rest = m[1]
	} else {
		return nil, false
	}
	return splitTopLevelAnd(rest), true
}

// closingParen finds the paren matching the one at open, skipping literals.
func closingParen(s string, open int) int {
	depth, inStr := 0, false
	for i := open; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			inStr = !inStr
		case inStr:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func splitTopLevelAnd(s string) []string {
	var out []string
	depth, inStr, start := 0, false, 0
	upper := strings.ToUpper(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			inStr = !inStr
		case inStr:
		case c == '(' || c == '{':
			depth++
		case c == ')' || c == '}':
			depth--
		case depth == 0 && strings.HasPrefix(upper[i:], " AND "):
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + len(" AND ")
			i = start - 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// blankLiterals replaces the content of '...' literals (with ” escapes) by x.
func blankLiterals(s string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			inStr = !inStr
			b.WriteByte(c)
		case inStr:
			b.WriteByte('x')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func stripComments(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "--"); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }
