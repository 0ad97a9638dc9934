// Package obs is chatd's observability: Prometheus metrics, health and
// readiness, and pprof, all served on a separate admin listener so none of it
// is reachable through the public API.
package obs

import (
	"context"
	"net/http"
	"net/http/pprof"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds chatd's collectors. A nil *Metrics records nothing.
type Metrics struct {
	Registry    *prometheus.Registry
	httpTotal   *prometheus.CounterVec
	httpSeconds *prometheus.HistogramVec
	fanout      prometheus.Histogram
	cqlSeconds  *prometheus.HistogramVec
	cqlErrors   *prometheus.CounterVec
	sends       *prometheus.CounterVec
	delivery    [2]prometheus.Observer // local, forwarded
	ring        *ringView
	// statements: CQL text -> its table's latency observer, so a query runs
	// no regexp and no label look-up (they were 2 % of chatd's CPU a send).
	statements     sync.Map
	statementCount atomic.Int64
}

// maxCachedStatements bounds statements: chatd's are constants, a few dozen.
const maxCachedStatements = 512

type statementMetrics struct {
	table   string
	seconds prometheus.Observer
}

func (m *Metrics) statement(stmt string) statementMetrics {
	if v, ok := m.statements.Load(stmt); ok {
		return v.(statementMetrics)
	}
	t := table(stmt)
	sm := statementMetrics{table: t, seconds: m.cqlSeconds.WithLabelValues(t)}
	if m.statementCount.Load() < maxCachedStatements {
		if _, loaded := m.statements.LoadOrStore(stmt, sm); !loaded {
			m.statementCount.Add(1)
		}
	}
	return sm
}

// New registers the collectors on a fresh registry (plus Go and process metrics).
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		httpTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringchat_http_requests_total",
			Help: "HTTP requests by method, route and status."}, []string{"method", "route", "status"}),
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ringchat_http_request_seconds",
			Help: "HTTP request latency by method and route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
			[]string{"method", "route"}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ringchat_fanout_recipients",
			Help: "Recipients per delivered event.", Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000}}),
		cqlSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ringchat_cql_query_seconds",
			Help: "Cassandra query latency by table.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)},
			[]string{"table"}),
		cqlErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringchat_cql_errors_total",
			Help: "Cassandra query errors by table."}, []string{"table"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringchat_sends_total",
			Help: "Sends answered, by transport (rest, ws) and result (ok or the error code answered)."}, []string{"transport", "result"}),
		ring: newRingView(),
	}
	delivery := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ringchat_delivery_seconds",
		Help:    "From a message's id (made once its send is admitted) to its frame queued to this node's sockets; path: local or forwarded (from another node).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"path"})
	m.delivery = [2]prometheus.Observer{delivery.WithLabelValues("local"), delivery.WithLabelValues("forwarded")}
	m.Registry.MustRegister(m.httpTotal, m.httpSeconds, m.fanout, m.cqlSeconds, m.cqlErrors, m.sends, delivery,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(m.ring.collectors()...)
	return m
}

// Gauge registers a gauge read at scrape time (connections, queue drops...).
func (m *Metrics) Gauge(name, help string, read func() float64) {
	if m != nil {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read))
	}
}

// Counter registers a counter read at scrape time.
func (m *Metrics) Counter(name, help string, read func() float64) {
	if m != nil {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, read))
	}
}

// SendResults makes the sends series of these transports and results exist
// at 0, so a rate over them is defined before the first send.
func (m *Metrics) SendResults(transports, results []string) {
	if m != nil {
		for _, t := range transports {
			for _, r := range results {
				m.sends.WithLabelValues(t, r)
			}
		}
	}
}

// Send counts one send's answer.
func (m *Metrics) Send(transport, result string) {
	if m != nil {
		m.sends.WithLabelValues(transport, result).Inc()
	}
}

// Delivered records a message's age when this node's sockets took it.
func (m *Metrics) Delivered(age time.Duration, forwarded bool) {
	if m == nil {
		return
	}
	i := 0
	if forwarded {
		i = 1
	}
	m.delivery[i].Observe(age.Seconds())
}

// Fanout records how many users one event was delivered to.
func (m *Metrics) Fanout(n int) {
	if m != nil {
		m.fanout.Observe(float64(n))
	}
}

// Echo is middleware counting requests by route (the pattern, not the path,
// so ids do not explode the label set). An error is answered here, through
// Echo's error handler, so the status counted is the one the client got.
func (m *Metrics) Echo() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			if m == nil {
				return nil
			}
			status := Status(c)
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			method := methodLabel(c.Request().Method)
			m.httpTotal.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
			m.httpSeconds.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

// methodLabel keeps the method label to a fixed set: Go accepts any token as
// a method, and one series per made-up method would let any client, without
// logging in, grow the metrics without bound.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// Status is the status a request was answered with: 101 for a WebSocket
// upgrade (the socket was hijacked, so Echo never saw the answer).
func Status(c echo.Context) int {
	if !c.Response().Committed && c.Response().Status == http.StatusOK &&
		strings.EqualFold(c.Request().Header.Get("Upgrade"), "websocket") {
		return http.StatusSwitchingProtocols
	}
	return c.Response().Status
}

var tableOf = regexp.MustCompile(`(?i)\b(?:FROM|INTO|UPDATE)\s+([a-z_][a-z0-9_.]*)`)

func table(stmt string) string {
	if mt := tableOf.FindStringSubmatch(stmt); mt != nil {
		t := mt[1]
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			t = t[i+1:]
		}
		return strings.ToLower(t)
	}
	return "other"
}

// ObserveQuery implements gocql.QueryObserver: latency and errors per table.
func (m *Metrics) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	if m == nil {
		return
	}
	sm := m.statement(q.Statement)
	sm.seconds.Observe(q.End.Sub(q.Start).Seconds())
	if q.Err != nil {
		m.cqlErrors.WithLabelValues(sm.table).Inc()
	}
	m.observeAttempt(sm.table, q.Host, q.Attempt, q.Err)
}

// ObserveBatch implements gocql.BatchObserver.
func (m *Metrics) ObserveBatch(_ context.Context, b gocql.ObservedBatch) {
	if m == nil || len(b.Statements) == 0 {
		return
	}
	sm := m.statement(b.Statements[0])
	sm.seconds.Observe(b.End.Sub(b.Start).Seconds())
	if b.Err != nil {
		m.cqlErrors.WithLabelValues(sm.table).Inc()
	}
	m.observeAttempt(sm.table, b.Host, b.Attempt, b.Err)
}

// AdminHandler serves /metrics, /healthz (the process answers), /readyz
// (ready answers nil: Cassandra answers and the schema is current) and
// /debug/pprof/ on the admin listener.
func (m *Metrics) AdminHandler(ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	// Not pprof.Cmdline: flags may hold secrets (cluster secret, passwords).
	mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not served: the command line may hold secrets", http.StatusNotFound)
	})
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
