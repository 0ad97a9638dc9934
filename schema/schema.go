// Package schema holds ringchat's versioned CQL and applies it.
//
// Versions are the files cql/NNNN_name.cql, embedded in the binary, applied in
// order and recorded with a checksum in schema_migrations. Files are
// append-only: an applied file that changes is an error, never re-applied.
package schema

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed cql/*.cql
var files embed.FS

// Version is one schema file.
type Version struct {
	Name       string // e.g. 0001_core
	Statements []string
	Checksum   string // sha256 of the file
}

var versionName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.cql$`)

// Versions returns every embedded version in order.
func Versions() ([]Version, error) {
	entries, err := fs.ReadDir(files, "cql")
	if err != nil {
		return nil, fmt.Errorf("read embedded schema: %w", err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	if err := checkFileNames(names); err != nil {
		return nil, err
	}
	var out []Version
	for _, e := range entries {
		raw, err := files.ReadFile("cql/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(raw)
		out = append(out, Version{Name: strings.TrimSuffix(e.Name(), ".cql"),
			Statements: splitStatements(string(raw)), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// checkFileNames fails on a file not named NNNN_name.cql and on two files
// with one number: two branches that each took the next number would apply
// in name order, and a keyspace migrated from one branch first would differ.
func checkFileNames(names []string) error {
	taken := map[string]string{}
	for _, n := range names {
		if !versionName.MatchString(n) {
			return fmt.Errorf("schema file %q is not named NNNN_name.cql", n)
		}
		if other, ok := taken[n[:4]]; ok {
			return fmt.Errorf("schema files %q and %q share version number %s: renumber the newer one", other, n, n[:4])
		}
		taken[n[:4]] = n
	}
	return nil
}

// splitStatements cuts a CQL file into statements at semicolons that end a
// line, dropping -- comments. The schema files keep to that form.
func splitStatements(src string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimRight(line, " \t\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(line, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}

// Replication is a keyspace's replication: SimpleStrategy with one factor
// (development), or NetworkTopologyStrategy with a factor per data centre.
type Replication struct {
	Class       string
	Factor      int
	DataCenters map[string]int
}

// ParseDCFactors reads "dc1:3,dc2:3".
func ParseDCFactors(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		dc, n, ok := strings.Cut(part, ":")
		f, err := strconv.Atoi(n)
		if !ok || dc == "" || err != nil || f < 1 {
			return nil, fmt.Errorf("bad data-centre factor %q: want dc:N with N >= 1", part)
		}
		out[dc] = f
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no data-centre factors in %q", s)
	}
	return out, nil
}

// Matches reports whether stored, a keyspace's replication as Cassandra holds
// it (system_schema.keyspaces), is r.
func (r Replication) Matches(stored map[string]string) bool {
	class := stored["class"]
	class = class[strings.LastIndex(class, ".")+1:]
	switch r.Class {
	case "SimpleStrategy", "":
		return class == "SimpleStrategy" && stored["replication_factor"] == strconv.Itoa(r.Factor)
	case "NetworkTopologyStrategy":
		if class != r.Class || len(stored) != len(r.DataCenters)+1 {
			return false
		}
		for dc, n := range r.DataCenters {
			if stored[dc] != strconv.Itoa(n) {
				return false
			}
		}
		return true
	}
	return false
}

// CQL renders the replication map, validating it.
func (r Replication) CQL() (string, error) {
	switch r.Class {
	case "SimpleStrategy", "":
		if r.Factor < 1 {
			return "", fmt.Errorf("replication factor must be at least 1, got %d", r.Factor)
		}
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", r.Factor), nil
	case "NetworkTopologyStrategy":
		if len(r.DataCenters) == 0 {
			return "", fmt.Errorf("NetworkTopologyStrategy needs per-DC factors (dc1:3,dc2:3)")
		}
		dcs := make([]string, 0, len(r.DataCenters))
		for dc := range r.DataCenters {
			if !dcName.MatchString(dc) {
				return "", fmt.Errorf("bad data-centre name %q", dc)
			}
			dcs = append(dcs, dc)
		}
		sort.Strings(dcs)
		parts := []string{"'class': 'NetworkTopologyStrategy'"}
		for _, dc := range dcs {
			parts = append(parts, fmt.Sprintf("'%s': %d", dc, r.DataCenters[dc]))
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("unknown replication class %q (SimpleStrategy or NetworkTopologyStrategy)", r.Class)
}

var (
	dcName       = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	keyspaceName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)
)

// ValidKeyspace reports whether name is a keyspace name ringchat accepts.
func ValidKeyspace(name string) bool { return keyspaceName.MatchString(name) }

// Settings is the data layout fixed at keyspace creation.
type Settings struct {
	MessageBucket time.Duration // messages_by_conversation window
	InboxBucket   time.Duration // inbox_by_user window
}

// DefaultSettings: 10-day message buckets (a busy conversation's partition stays
// well under 100 MB), 1-day inbox buckets (a sync reads few, small partitions).
func DefaultSettings() Settings {
	return Settings{MessageBucket: 240 * time.Hour, InboxBucket: 24 * time.Hour}
}
