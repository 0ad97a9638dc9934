package obs

import (
	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringchat/ringchat/repo"
)

// ringView is the driver's view of the ring: which nodes it holds a pool to,
// how often that changed, the connection attempts that refill the pools and
// the queries it sent again. Labels are node addresses: as many as the ring has.
type ringView struct {
	hostUp      *prometheus.GaugeVec
	hostEvents  *prometheus.CounterVec
	connects    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	hostErrors  *prometheus.CounterVec
	hostQueries *prometheus.CounterVec
}

func newRingView() *ringView {
	return &ringView{
		hostUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringchat_cql_host_up",
			Help: "1 while the driver holds a pool to the Cassandra node, 0 while it counts it down."}, []string{"host"}),
		hostEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringchat_cql_host_events_total",
			Help: "Driver host state changes: add, remove, up, down."}, []string{"host", "event"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringchat_cql_connects_total",
			Help: "Connection attempts to Cassandra nodes (pool fills), by result."}, []string{"host", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringchat_cql_retries_total",
			Help: "Query attempts after the first (the driver's retry policy), by table."}, []string{"table"}),
		hostErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringchat_cql_host_errors_total",
			Help: "Query attempts that failed, by the node they went to."}, []string{"host"}),
		hostQueries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringchat_cql_host_queries_total",
			Help: "Query attempts, by the node they went to (token-aware routing spreads them)."}, []string{"host"}),
	}
}

func (v *ringView) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.hostUp, v.hostEvents, v.connects, v.retries, v.hostErrors, v.hostQueries}
}

// HostEvent records a driver host state change (repo.CassandraConfig.HostEvents).
func (m *Metrics) HostEvent(e repo.HostEvent) {
	if m == nil {
		return
	}
	m.ring.hostEvents.WithLabelValues(e.Addr, e.Event).Inc()
	switch e.Event {
	case "add", "up":
		m.ring.hostUp.WithLabelValues(e.Addr).Set(1)
	case "down":
		m.ring.hostUp.WithLabelValues(e.Addr).Set(0)
	case "remove":
		m.ring.hostUp.DeleteLabelValues(e.Addr)
	}
}

// ObserveConnect implements gocql.ConnectObserver.
func (m *Metrics) ObserveConnect(c gocql.ObservedConnect) {
	if m == nil || c.Host == nil {
		return
	}
	result := "ok"
	if c.Err != nil {
		result = "error"
	}
	m.ring.connects.WithLabelValues(c.Host.ConnectAddress().String(), result).Inc()
}

// observeAttempt is the per-attempt part of ObserveQuery and ObserveBatch.
func (m *Metrics) observeAttempt(table string, host *gocql.HostInfo, attempt int, err error) {
	if attempt > 0 {
		m.ring.retries.WithLabelValues(table).Inc()
	}
	if host == nil {
		return
	}
	addr := host.ConnectAddress().String()
	m.ring.hostQueries.WithLabelValues(addr).Inc()
	if err != nil {
		m.ring.hostErrors.WithLabelValues(addr).Inc()
	}
}

var _ gocql.ConnectObserver = (*Metrics)(nil)
