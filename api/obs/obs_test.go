package obs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// Queries count under their table whether or not their statement is
// cached, and the cache stays bounded by made-up statements.
func TestQueryMetricsByTable(t *testing.T) {
	m := New()
	ctx, now := context.Background(), time.Now()
	for i := range 2 * maxCachedStatements {
		q := gocql.ObservedQuery{Statement: fmt.Sprintf("SELECT a FROM ks.Inbox_By_User WHERE k = %d", i%(maxCachedStatements+100)), Start: now, End: now}
		if i%7 == 0 {
			q.Err = errors.New("timeout")
		}
		m.ObserveQuery(ctx, q)
	}
	m.ObserveBatch(ctx, gocql.ObservedBatch{Statements: []string{"INSERT INTO chats_by_activity (a) VALUES (?)"}, Start: now, End: now, Err: errors.New("x")})
	m.ObserveQuery(ctx, gocql.ObservedQuery{Statement: "SELECT now() FROM system.local", Start: now, End: now})
	if n := m.statementCount.Load(); n > maxCachedStatements {
		t.Fatalf("%d statements cached, bound %d", n, maxCachedStatements)
	}
	queries, errs := map[string]uint64{}, map[string]float64{}
	for _, mf := range must(m.Registry.Gather()) {
		for _, s := range mf.GetMetric() {
			switch mf.GetName() {
			case "ringchat_cql_query_seconds":
				queries[s.GetLabel()[0].GetValue()] += s.GetHistogram().GetSampleCount()
			case "ringchat_cql_errors_total":
				errs[s.GetLabel()[0].GetValue()] += s.GetCounter().GetValue()
			}
		}
	}
	wantQueries := map[string]uint64{"inbox_by_user": 2 * maxCachedStatements, "chats_by_activity": 1, "local": 1}
	wantErrs := map[string]float64{"inbox_by_user": float64((2*maxCachedStatements + 6) / 7), "chats_by_activity": 1}
	if !maps.Equal(queries, wantQueries) || !maps.Equal(errs, wantErrs) {
		t.Fatalf("queries %v, errors %v; want %v, %v", queries, errs, wantQueries, wantErrs)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
