package check

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Labels Prometheus adds to every series it scrapes: not chatd's to export.
var targetLabels = map[string]bool{"job": true, "instance": true}

// promql is Prometheus's PromQL parser with its default functions.
var promql = parser.NewParser(parser.Options{})

// selectors lists the metric selectors of a PromQL expression.
func selectors(expr string) ([]*parser.VectorSelector, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out, nil
}

// checkExpr fails on a metric chatd does not export (a histogram's _bucket,
// _sum and _count count as its own) and on a label matcher naming a label
// that metric does not carry.
func checkExpr(t *testing.T, where, expr string, fams map[string]family) {
	t.Helper()
	sels, err := selectors(expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return
	}
	if len(sels) == 0 {
		t.Errorf("%s: names no metric: %s", where, expr)
	}
	for _, vs := range sels {
		f, ok := fams[vs.Name]
		if !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				base, cut := strings.CutSuffix(vs.Name, suffix)
				if bf, found := fams[base]; cut && found && (bf.typ == dto.MetricType_HISTOGRAM || bf.typ == dto.MetricType_SUMMARY) {
					f, ok = bf, true
					if suffix == "_bucket" {
						f.labels = withLabel(f.labels, "le")
					}
				}
			}
		}
		if !ok {
			t.Errorf("%s: %s is not exported by chatd (not on a running chatd's /metrics)", where, vs.Name)
			continue
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" || targetLabels[m.Name] {
				continue
			}
			if !f.labels[m.Name] {
				t.Errorf("%s: %s has no label %q (it has %v)", where, vs.Name, m.Name, keys(f.labels))
				continue
			}
			// An exact value (a route, a method) must be one chatd used:
			// a renamed route would leave the alert matching nothing.
			if m.Type == labels.MatchEqual && m.Name != "le" && !f.values[m.Name][m.Value] {
				t.Errorf("%s: %s{%s=%q}: chatd exported no such value (it has %v)", where, vs.Name, m.Name, m.Value, keys(f.values[m.Name]))
			}
		}
	}
}

func withLabel(m map[string]bool, l string) map[string]bool {
	out := map[string]bool{l: true}
	for k := range m {
		out[k] = true
	}
	return out
}

// The alert rules parse with Prometheus's own rule parser (which parses each
// PromQL expression and template too), every alert says how bad it is and
// where its runbook is, and every metric they name is one chatd exports.
func TestAlertRules(t *testing.T) {
	file := filepath.Join(root, "deploy/monitoring/alerts.yaml")
	groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	fams := exported(t)
	names := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := fmt.Sprintf("alerts.yaml %s", r.Alert)
			if r.Alert == "" {
				t.Errorf("alerts.yaml group %s: a recording rule; this file holds alerts", g.Name)
			}
			if names[r.Alert] {
				t.Errorf("%s: two alerts of that name", where)
			}
			names[r.Alert] = true
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("%s: severity %q; want page or ticket", where, sev)
			}
			if r.Annotations["summary"] == "" || !strings.HasPrefix(r.Annotations["runbook"], "docs/operations.md#") {
				t.Errorf("%s: wants a summary and a runbook (docs/operations.md#...) annotation", where)
			}
			checkExpr(t, where, r.Expr, fams)
		}
	}
	for _, want := range []string{"ringchat_sends_shed_total", "ringchat_ws_slow_consumer_drops_total", "ringchat_cql_errors_total", "ringchat_cql_query_seconds_bucket", "ringchat_delivery_waiting",
		"ringchat_sends_total", "ringchat_delivery_seconds_bucket", "ringchat_cluster_nodes", "ringchat_node_lease_trusted_seconds"} {
		if !strings.Contains(string(repoFile(t, "deploy/monitoring/alerts.yaml")), want) {
			t.Errorf("alerts.yaml: no alert on %s", want)
		}
	}
}

// dashboard is the part of Grafana's dashboard JSON this check reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row's
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// Grafana's interval macros, as Grafana fills them in before querying.
var grafanaMacros = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// The dashboard is JSON Grafana can load (unique panel ids, a place on the
// grid, a query per panel), and every query names metrics chatd exports.
func TestDashboard(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(repoFile(t, "deploy/monitoring/chatd-dashboard.json"), &d); err != nil {
		t.Fatalf("chatd-dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatal("chatd-dashboard.json: no uid, title or panels")
	}
	fams := exported(t)
	ids := map[int]bool{}
	var walk func([]panel)
	queries := 0
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("dashboard panel %d %q", p.ID, p.Title)
			if p.ID == 0 || ids[p.ID] {
				t.Errorf("%s: id missing or repeated", where)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("%s: no place on the grid", where)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, q := range p.Targets {
				queries++
				checkExpr(t, where+" "+q.RefID, grafanaMacros.Replace(q.Expr), fams)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("dashboard variable %s: %v", v.Name, err)
			continue
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("dashboard variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		checkExpr(t, "dashboard variable "+v.Name, m[1], fams)
	}
	names := map[string]bool{}
	for _, p := range allPanels(d.Panels) {
		for _, q := range p.Targets {
			sels, _ := selectors(grafanaMacros.Replace(q.Expr))
			for _, s := range sels {
				names[s.Name] = true
			}
		}
	}
	t.Logf("dashboard: %d panels, %d queries over %d metrics", len(ids), queries, len(names))
	var missing []string
	for name := range fams {
		if strings.HasPrefix(name, "ringchat_") && !names[name] && !names[name+"_bucket"] && !names[name+"_count"] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("chatd exports metrics no dashboard panel shows: %v", missing)
	}
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}
