// Command chatd is one ringchat API node: REST and WebSocket over Echo, state in Cassandra.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/api/obs"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/presence"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/objstore"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
	"github.com/ringchat/ringchat/web"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0) // usage was asked for, and printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatd:", err)
		os.Exit(2)
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("chatd stopped", "err", err)
		os.Exit(1)
	}
}

func newLogger(cfg config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// run serves until ctx ends (a signal), then shuts down within cfg.Shutdown.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	metrics := obs.New()
	cfg.Cassandra.QueryObserver, cfg.Cassandra.BatchObserver = metrics, metrics
	cfg.Cassandra.ConnectObserver = metrics
	catchUp := repo.NewCatchUp(cfg.Cassandra.LocalDC, cfg.CatchUpWindow)
	cfg.Cassandra.HostEvents = func(e repo.HostEvent) {
		catchUp.Host(e) // first: the metric below must not show a node back before CatchUp knows
		metrics.HostEvent(e)
		// A node lost or regained is an operator's first question in an outage.
		level := slog.LevelInfo
		if e.Event == "down" || e.Event == "remove" {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "cassandra host "+e.Event, "host", e.Addr, "dc", e.DC, "rack", e.Rack)
	}
	session, err := repo.Connect(cfg.Cassandra)
	if err != nil {
		return err
	}
	defer session.Close()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := schema.CheckCurrent(startCtx, session); err != nil {
		return err
	}
	settings, err := schema.LoadSettings(startCtx, session)
	if err != nil {
		return err
	}
	repl, err := schema.KeyspaceReplication(startCtx, session, cfg.Cassandra.Keyspace)
	if err != nil {
		return err
	}
	catchUp.Enable(repl)
	lease, err := snowflake.AcquireLease(startCtx, session, snowflake.LeaseConfig{TTL: cfg.LeaseTTL, Logger: log})
	if err != nil {
		return fmt.Errorf("lease snowflake node id: %w", err)
	}
	defer func() {
		relCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = lease.Release(relCtx)
	}()
	gen, err := snowflake.NewLeasedGenerator(lease)
	if err != nil {
		return err
	}
	store := repo.NewStore(session, repo.Layout{MessageBucket: settings.MessageBucket, InboxBucket: settings.InboxBucket}, cfg.Retention)
	objects, err := objstore.New(startCtx, cfg.S3)
	if err != nil {
		return err
	}

	internalLn, err := net.Listen("tcp", cfg.Internal)
	if err != nil {
		return fmt.Errorf("internal listen on %s: %w", cfg.Internal, err)
	}
	if cfg.Cluster.InternalAddr == "" {
		cfg.Cluster.InternalAddr = internalLn.Addr().String()
	}
	cfg.Cluster.NodeID, cfg.Cluster.Instance, cfg.Cluster.Log = int(lease.NodeID()), randomInstance(), log
	pres := presence.New(store, log)
	cfg.Cluster.OnPresence = pres.Changed
	cfg.Cluster.OnDelivered = metrics.Delivered
	var cl *delivery.Node
	cfg.WS.OnConnect = func(id ws.Identity) { cl.Connected(id) }
	cfg.WS.OnDisconnect = func(id ws.Identity) { cl.Disconnected(id) }
	hub := ws.NewHub(cfg.WS, log)
	cl = delivery.New(cfg.Cluster, store, hub)
	pres.SetOutputs(cl, cl)
	if err := cl.Start(startCtx); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	go delivery.WatchSessionEnds(feedCtx, store, hub, log)
	sendKey, err := store.SendIDKey(startCtx)
	if err != nil {
		return fmt.Errorf("send id key: %w", err)
	}
	srv := api.New(cfg.API, api.Deps{Store: store, IDs: gen, Sockets: hub, Delivery: cl, Objects: objects, Presence: pres, Metrics: metrics, Log: log, SendIDKey: sendKey, CatchUp: catchUp,
		BeforeSend: cfg.beforeSend})
	go srv.App().RunDeletionSweeps(feedCtx)
	if cfg.API.Notify.Outbox() {
		senders, err := cfg.Notify.senders(startCtx, cfg.API.Notify)
		if err != nil {
			return err
		}
		notifier := srv.App().NewNotifier(chat.NotifierConfig{Cluster: cfg.Cluster.Name, Holder: cfg.Cluster.Instance,
			Lease: cfg.Notify.lease, Settle: cfg.API.SyncLag, Attempts: cfg.Notify.attempts, RetryMax: cfg.Notify.retryMax,
			Parallel: cfg.Notify.parallel, Nodes: cl.LiveCount, Events: cfg.events}, senders, cl)
		go notifier.Run()
		defer notifier.Stop()
	}
	registerGauges(metrics, hub, cl)
	registerLeaseGauges(metrics, lease)
	metrics.Gauge("ringchat_sync_across_dcs", "1 while requests read at EACH_QUORUM: nodes of the local DC were lost lately and may lack writes made elsewhere (--replica-catchup).",
		func() float64 { active, _ := catchUp.Active(); return boolGauge(active) })
	adminLn, err := net.Listen("tcp", cfg.Admin)
	if err != nil {
		return fmt.Errorf("admin listen on %s: %w", cfg.Admin, err)
	}
	adminSrv := cfg.HTTP.server(metrics.AdminHandler(func(ctx context.Context) error {
		if err := store.Ping(ctx); err != nil {
			return err
		}
		return schema.CheckCurrent(ctx, session)
	}))
	go func() { _ = adminSrv.Serve(adminLn) }()
	defer adminSrv.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	public := srv.Handler()
	if cfg.WebDir != "" {
		if public, err = web.Handler(cfg.WebDir, public, mediaOrigin(cfg.S3.Endpoint)); err != nil {
			return err
		}
	}
	httpSrv := cfg.HTTP.server(public)
	// The public limits bound the internal listener too: it is reachable by
	// anyone on the private network, and a call is at most 8 MiB.
	internalSrv := cfg.HTTP.server(cl.InternalHandler())
	serveErr := make(chan error, 2)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	go func() { serveErr <- internalSrv.Serve(internalLn) }()
	log.Info("chatd serving", "addr", "http://"+ln.Addr().String(), "internal", cfg.Cluster.InternalAddr,
		"node_id", lease.NodeID(), "keyspace", cfg.Cassandra.Keyspace, "forwarding", cfg.Cluster.Secret != "")
	// Printed plainly too, so scripts and tests can wait for it.
	fmt.Printf("chatd internal on %s\n", cfg.Cluster.InternalAddr)
	fmt.Printf("chatd admin on %s\n", adminLn.Addr().String())
	if cfg.WebDir != "" {
		fmt.Printf("chatd web app on http://%s%s\n", ln.Addr().String(), web.Prefix)
	}
	fmt.Printf("chatd serving on http://%s\n", ln.Addr().String())

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-lease.Lost():
		// Another process may now hold our node id: making ids would risk duplicates.
		err = errors.New("snowflake node-id lease lost")
	case err = <-serveErr:
	}
	// Graceful: close sockets with 1012 (clients reconnect elsewhere), let
	// in-flight requests finish, then leave the registry and free the node id.
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown)
	defer cancel()
	shutErr := httpSrv.Shutdown(shutCtx) // stops accepting; waits for in-flight requests
	hubErr := hub.Shutdown(shutCtx)      // sockets: 1012; a frame being handled finishes first
	cl.Stop(shutCtx)
	_ = internalSrv.Shutdown(shutCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("chatd stopped", "err", errors.Join(err, shutErr, hubErr))
	return errors.Join(err, shutErr, hubErr)
}

func randomInstance() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func registerGauges(m *obs.Metrics, hub *ws.Hub, cl *delivery.Node) {
	m.Gauge("ringchat_ws_connections", "Open WebSocket connections on this node.", func() float64 { return float64(hub.Count()) })
	m.Counter("ringchat_ws_slow_consumer_drops_total", "Sockets cut off because their send queue was full.",
		func() float64 { return float64(hub.Stats().Dropped) })
	m.Counter("ringchat_forward_items_total", "Events forwarded to other nodes.", func() float64 { return float64(cl.Stats().Forwarded) })
	m.Counter("ringchat_forward_drops_total", "Recipients whose forwarded event was dropped (they get it by sync).",
		func() float64 { return float64(cl.Stats().ForwardDrops) })
	m.Gauge("ringchat_delivery_waiting", "Deliveries waiting for their route look-ups on this node.", func() float64 { return float64(cl.Stats().Waiting) })
	m.Gauge("ringchat_forward_queued", "Items waiting in this node's forwarding queues to other nodes.", func() float64 { return float64(cl.Stats().Queued) })
	m.Gauge("ringchat_session_feed_age_seconds", "Since the last successful read of the feed of ended sessions began (-1: none yet).",
		func() float64 { return hub.SessionsCoveredAge().Seconds() })
	m.Counter("ringchat_route_lookups_total", "Route partitions read for delivery.", func() float64 { return float64(cl.Stats().RouteLookups) })
	m.Gauge("ringchat_cluster_nodes", "chatd nodes in the node registry as this node last read it, itself included.",
		func() float64 { return float64(cl.Stats().LiveNodes) })
	m.Counter("ringchat_node_heartbeat_failures_total", "This node's registry row writes that failed (past --node-ttl of them the others stop forwarding here).",
		func() float64 { return float64(cl.Stats().HeartbeatFailures) })
}

func registerLeaseGauges(m *obs.Metrics, lease *snowflake.Lease) {
	m.Gauge("ringchat_node_lease_trusted_seconds", "How long this node may still make Snowflake ids unless a lease renewal lands (0: lost; the node exits).",
		func() float64 { return lease.TrustedFor().Seconds() })
	m.Counter("ringchat_node_lease_renewal_failures_total", "Snowflake node-id lease renewals that failed (retried until the lease is lost).",
		func() float64 { return float64(lease.RenewalFailures()) })
}

// mediaOrigin is where the web app's presigned media URLs point: the S3
// endpoint's origin (and its subdomains, for virtual-hosted buckets), or AWS
// S3's hosts.
func mediaOrigin(endpoint string) string {
	u, err := url.Parse(endpoint)
	if endpoint == "" || err != nil || u.Host == "" {
		return "https://*.amazonaws.com"
	}
	return u.Scheme + "://" + u.Host + " " + u.Scheme + "://*." + u.Host
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
