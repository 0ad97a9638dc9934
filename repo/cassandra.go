package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/gocql/gocql"
)

// CassandraConfig is how chatd and the tools reach the ring. Consistency levels,
// data centre and timeouts are configuration, never code.
type CassandraConfig struct {
	Hosts             []string      // host or host:port; default port 9042
	Keyspace          string        // "" to connect without a keyspace (migrate)
	Consistency       string        // e.g. LOCAL_QUORUM, ONE
	SerialConsistency string        // LOCAL_SERIAL or SERIAL, for lightweight transactions
	LocalDC           string        // prefer replicas in this data centre ("" = any)
	Username          string        // optional PasswordAuthenticator credentials
	Password          string        //
	Timeout           time.Duration // per query
	ConnectTimeout    time.Duration
	NumConns          int // connections per host
	// Observers see every query and batch (metrics); nil for none.
	QueryObserver gocql.QueryObserver
	BatchObserver gocql.BatchObserver
	// ConnectObserver sees every connection attempt to a node (pool refills); nil for none.
	ConnectObserver gocql.ConnectObserver
	// HostEvents hears when the driver adds, loses or regains a node; nil for none.
	HostEvents func(HostEvent)
}

// DefaultCassandraConfig is a single dev node on loopback.
func DefaultCassandraConfig() CassandraConfig {
	return CassandraConfig{
		Hosts:             []string{"127.0.0.1:9042"},
		Keyspace:          "ringchat",
		Consistency:       "LOCAL_QUORUM",
		SerialConsistency: "LOCAL_SERIAL",
		Timeout:           2 * time.Second,
		ConnectTimeout:    5 * time.Second,
		NumConns:          2,
	}
}

// Connect opens a gocql session. Errors name the hosts so a missing node is obvious.
func Connect(cfg CassandraConfig) (*gocql.Session, error) {
	cluster, err := NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	s, err := cluster.CreateSession()
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "cassandra unreachable",
			Cause: fmt.Errorf("connect to %s: %w", strings.Join(cfg.Hosts, ","), err)}
	}
	return s, nil
}

// NewCluster builds the gocql cluster configuration for cfg.
func NewCluster(cfg CassandraConfig) (*gocql.ClusterConfig, error) {
	if len(cfg.Hosts) == 0 {
		return nil, Errorf(CodeInvalidArgument, "no cassandra hosts configured")
	}
	hosts := make([]string, 0, len(cfg.Hosts))
	port := 9042
	for _, h := range cfg.Hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if host, p, err := net.SplitHostPort(h); err == nil {
			var n int
			if _, err := fmt.Sscanf(p, "%d", &n); err != nil {
				return nil, Errorf(CodeInvalidArgument, "bad cassandra host %q", h)
			}
			port = n // gocql has one port per cluster
			h = host
		}
		hosts = append(hosts, h)
	}
	cluster := gocql.NewCluster(hosts...)
	cluster.Port = port
	cluster.Keyspace = cfg.Keyspace
	cons, err := parseConsistency(cfg.Consistency)
	if err != nil {
		return nil, err
	}
	cluster.Consistency = cons
	serial := gocql.LocalSerial
	if strings.EqualFold(cfg.SerialConsistency, "SERIAL") {
		serial = gocql.Serial
	}
	cluster.SerialConsistency = serial
	if cfg.Timeout > 0 {
		cluster.Timeout = cfg.Timeout
		cluster.WriteTimeout = cfg.Timeout
	}
	if cfg.ConnectTimeout > 0 {
		cluster.ConnectTimeout = cfg.ConnectTimeout
	}
	if cfg.NumConns > 0 {
		cluster.NumConns = cfg.NumConns
	}
	if cfg.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	fallback := gocql.RoundRobinHostPolicy()
	if cfg.LocalDC != "" {
		fallback = gocql.DCAwareRoundRobinPolicy(cfg.LocalDC)
	}
	cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(fallback)
	if cfg.HostEvents != nil {
		cluster.PoolConfig.HostSelectionPolicy = &hostWatch{HostSelectionPolicy: cluster.PoolConfig.HostSelectionPolicy, notify: cfg.HostEvents}
	}
	// Fail fast and let the client retry (guarantee 6); the driver must not hide an outage.
	cluster.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 1}
	cluster.ReconnectInterval = time.Second
	cluster.QueryObserver, cluster.BatchObserver = cfg.QueryObserver, cfg.BatchObserver
	cluster.ConnectObserver = cfg.ConnectObserver
	return cluster, nil
}

func parseConsistency(s string) (gocql.Consistency, error) {
	if s == "" {
		return gocql.LocalQuorum, nil
	}
	c, err := gocql.ParseConsistencyWrapper(strings.ToUpper(s))
	if err != nil {
		return 0, Errorf(CodeInvalidArgument, "bad consistency %q", s)
	}
	return c, nil
}

// translate turns a driver error into the project's *Error, once, at the repo edge.
// op names the operation for logs ("get user").
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return &Error{Code: CodeNotFound, Message: "not found", Cause: fmt.Errorf("%s: %w", op, err)}
	case errors.Is(err, context.Canceled):
		return &Error{Code: CodeUnavailable, Message: "request cancelled", Cause: fmt.Errorf("%s: %w", op, err)}
	case errors.Is(err, context.DeadlineExceeded), isUnavailable(err):
		return &Error{Code: CodeUnavailable, Message: "storage unavailable, retry later", Cause: fmt.Errorf("%s: %w", op, err)}
	}
	var reqErr gocql.RequestError
	if errors.As(err, &reqErr) {
		switch reqErr.Code() {
		case gocql.ErrCodeInvalid, gocql.ErrCodeSyntax:
			return &Error{Code: CodeInternal, Message: "internal error", Cause: fmt.Errorf("%s: %w", op, err)}
		}
	}
	return &Error{Code: CodeInternal, Message: "internal error", Cause: fmt.Errorf("%s: %w", op, err)}
}

// isUnavailable reports the driver errors that mean "the ring did not answer in time".
func isUnavailable(err error) bool {
	if errors.Is(err, gocql.ErrNoConnections) || errors.Is(err, gocql.ErrTimeoutNoResponse) ||
		errors.Is(err, gocql.ErrConnectionClosed) || errors.Is(err, gocql.ErrSessionClosed) ||
		errors.Is(err, gocql.ErrNoConnectionsStarted) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true // the connection to the node broke or was refused
	}
	switch err.(type) {
	case *gocql.RequestErrUnavailable, *gocql.RequestErrWriteTimeout, *gocql.RequestErrReadTimeout,
		*gocql.RequestErrWriteFailure, *gocql.RequestErrReadFailure, *gocql.RequestErrCASWriteUnknown:
		return true
	}
	var reqErr gocql.RequestError
	if errors.As(err, &reqErr) {
		switch reqErr.Code() {
		case gocql.ErrCodeOverloaded, gocql.ErrCodeBootstrapping, gocql.ErrCodeTruncate:
			return true
		}
	}
	return false
}

// Translate is translate for packages that talk to the driver directly (the
// schema tool): it classifies a driver error into the project's codes.
func Translate(err error) error { return translate("cql", err) }
