package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ringchat/ringchat/cmd/internal/flagenv"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/objstore"
)

// config is everything chatd reads from flags and RINGCHAT_* variables. Each
// flag's default comes from its variable, so a flag beats the environment.
// README's configuration table lists them all; keep the two in step.
type config struct {
	Listen    string
	LogLevel  string
	LogFormat string
	Cassandra repo.CassandraConfig
	Retention repo.Retention
	API       api.Config
	WS        ws.Config
	S3        objstore.Config
	Cluster   delivery.Config
	Internal  string // internal listener address
	Admin     string // admin listener: metrics, health, pprof
	WebDir    string // the built web app, served under /app/ ("": not served)
	LeaseTTL  time.Duration
	// CatchUpWindow: how long after a local node is back sync reads across DCs.
	CatchUpWindow time.Duration
	ClockSkew     time.Duration // the most any two nodes' clocks differ
	Shutdown      time.Duration
	HTTP          httpLimits // public and admin listeners
	Notify        notifyConfig
	Hooks         hookConfig
	beforeSend    chat.BeforeSendHook // built from Hooks; nil: no check
	events        chat.EventHook      // built from Hooks; nil: no event webhook
}

// httpLimits bound what one client connection may hold: a client that
// trickles its headers or body (slow-loris) is cut off instead of pinning a
// goroutine and a socket forever. A WebSocket is not cut by ReadTimeout: the
// upgrade clears the connection's deadlines and the hub keeps its own.
type httpLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration // headers and body of one request
	IdleTimeout       time.Duration // keep-alive between requests
	MaxHeaderBytes    int
}

func (l httpLimits) server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes}
}

func parseConfig(args []string) (config, error) {
	c := config{Cassandra: repo.DefaultCassandraConfig(), Retention: repo.DefaultRetention(), API: api.DefaultConfig()}
	fe := flagenv.New("chatd")
	str, dur, num := fe.String, fe.Duration, fe.Int
	var hosts, pathStyle, accessLevel, inboxRefs string
	var mediaMB, sendRate, authAddressRate, authHandleRate int
	str(&c.Listen, "listen", "127.0.0.1:8080", "address the public HTTP/WebSocket API listens on")
	str(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "text", "text or json")
	str(&accessLevel, "access-log-level", "debug", "level of the per-request log line (answers of 500 and more log at warn)")
	dur(&c.HTTP.ReadHeaderTimeout, "http-read-header-timeout", 5*time.Second, "a client must send a request's headers within this")
	dur(&c.HTTP.ReadTimeout, "http-read-timeout", 30*time.Second, "a client must send a whole request within this (WebSockets are exempt after the upgrade)")
	dur(&c.HTTP.IdleTimeout, "http-idle-timeout", 2*time.Minute, "an idle keep-alive connection is closed after this")
	num(&c.HTTP.MaxHeaderBytes, "http-max-header-bytes", 32<<10, "largest request header block in bytes (431 past it)")
	str(&hosts, "cassandra-hosts", "127.0.0.1:9042", "comma-separated Cassandra/Scylla contact points (host or host:port)")
	str(&c.Cassandra.Keyspace, "keyspace", "ringchat", "keyspace (created by ringchat-migrate)")
	str(&c.Cassandra.Consistency, "consistency", "LOCAL_QUORUM", "consistency level of reads and writes")
	str(&c.Cassandra.SerialConsistency, "serial-consistency", "LOCAL_SERIAL", "serial consistency of claims that need hold only within one data centre: send dedupe, tickets, IF EXISTS guards (LOCAL_SERIAL or SERIAL); handles, DMs, contact pairs, passwords, edit/recall and Snowflake leases always use SERIAL")
	str(&c.Cassandra.LocalDC, "local-dc", "", "data centre to prefer (multi-DC rings)")
	str(&c.Cassandra.Username, "cassandra-username", "", "PasswordAuthenticator user")
	fe.Secret(&c.Cassandra.Password, "cassandra-password", "PasswordAuthenticator password")
	dur(&c.Cassandra.Timeout, "cassandra-timeout", 2*time.Second, "per-query timeout")
	dur(&c.API.RequestTimeout, "request-timeout", 5*time.Second, "bound on one request's storage work")
	dur(&c.API.SendDeadline, "send-deadline", 3*time.Second, "a send not fully written this long after its id was made is not acknowledged")
	dur(&c.API.SyncLag, "sync-lag", 5*time.Second, "how far behind now sync cursors stay; must exceed send-deadline plus clock-skew")
	dur(&c.ClockSkew, "clock-skew", time.Second, "the most any two nodes' clocks may differ (keep them NTP-synchronised); at most repo.ClockSkew (2s)")
	num(&c.API.Limits.MessageBytes, "message-max-bytes", 4096, "largest message body in bytes")
	num(&c.API.Limits.MessageChars, "message-max-chars", 1000, "largest message body in characters")
	num(&c.API.Groups.MaxMembers, "group-max-members", 1000, "largest group, creator included")
	num(&c.API.Groups.PushMaxMembers, "push-max-members", 100, "groups up to this size get an inbox row per member; larger ones are read by sync (docs/fanout.md)")
	num(&c.API.Groups.MaxPullGroups, "max-pull-groups", 500, "most large (pull-mode) groups a user may be added to; past it adding them answers 409 (0: no bound)")
	num(&c.API.DirectCache, "direct-cache", 100000, "direct conversations whose members a node keeps in memory for sends (0: none; about 100 bytes each)")
	num(&c.API.GroupCache, "group-cache", 1000000, "group member ids a node keeps in memory for sends, each list while its group's members version stands (0: none; 8 bytes each)")
	num(&c.API.SendConcurrency, "send-concurrency", 512, "most sends one node keeps in flight; the bound adapts below it to Cassandra's latency, and sends over it wait in the send queue (0: unbounded)")
	num(&c.API.SendQueue, "send-queue", 512, "sends over the bound that may wait for a slot, each at most request-timeout minus send-deadline; past it, or when the wait would overrun, a send gets 503 / unavailable with a retry hint at once")
	str(&inboxRefs, "inbox-references", "true", "a direct message's inbox rows name the message instead of copying its body; start new nodes with false until every node runs a version that reads them (docs/sync.md)")
	dur(&c.API.SendLatencyTarget, "send-latency-target", time.Second, "send latency above which a node lowers its send bound")
	num(&sendRate, "send-rate", 10, "messages a second one user may send through one node (0: unlimited)")
	num(&c.API.SendBurst, "send-burst", 30, "burst allowance of the send rate")
	dur(&c.API.EditWindow, "edit-window", 15*time.Minute, "how long after sending the sender may edit")
	dur(&c.API.RecallWindow, "recall-window", 24*time.Hour, "how long after sending the sender may recall")
	dur(&c.API.TypingEvery, "typing-every", 2*time.Second, "at most one typing relay per user and conversation this often")
	dur(&c.API.ReceiptEvery, "receipt-every", time.Second, "at most one receipt event per member and conversation this often; later moves are sent together at its end (0: no coalescing)")
	num(&c.API.Auth.HashConcurrency, "password-hash-concurrency", 0, "most argon2id password hashes (19 MiB each) computed at once; past it login, register and password change get 503 at once (0: GOMAXPROCS)")
	num(&authAddressRate, "auth-address-rate", 60, "attempts a minute one client address may make at each of login, register and handle look-up (0: unlimited)")
	num(&c.API.Auth.AddressBurst, "auth-address-burst", 30, "burst allowance of auth-address-rate")
	num(&authHandleRate, "auth-handle-rate", 5, "failed logins a minute per handle and client address (ten times per handle from all addresses), registrations a minute per handle, handle look-ups and failed password changes a minute per user (0: unlimited)")
	num(&c.API.Auth.HandleBurst, "auth-handle-burst", 10, "burst allowance of auth-handle-rate")
	num(&c.API.Auth.Tracked, "auth-tracked", 20000, "client addresses (and, apart, handles) a node keeps rate limiters for; past it, the bucket soonest full again is forgotten")
	str(&c.API.Auth.ClientIPHeader, "client-ip-header", "", "header a trusted proxy sets to the client address (last entry used), e.g. X-Forwarded-For; empty: the TCP peer")
	dur(&c.Retention.HandleClaim, "handle-claim-grace", time.Minute, "a handle claim whose account was never written is taken over by a new registration after this long")
	dur(&c.Retention.HandleHold, "handle-hold", 30*24*time.Hour, "how long a deleted account's handle stays taken before anyone may register it")
	str(&c.API.BodyBytes, "max-request-body", "64K", "largest request body")
	dur(&c.Retention.Session, "session-ttl", 30*24*time.Hour, "bearer token lifetime")
	dur(&c.Retention.Inbox, "inbox-retention", 30*24*time.Hour, "how far back sync reaches (inbox row TTL)")
	dur(&c.Retention.Dedupe, "dedupe-ttl", 24*time.Hour, "how long a client_msg_id stays idempotent")
	num(&c.WS.SendQueue, "ws-send-queue", 256, "frames queued per WebSocket before it is dropped as slow")
	dur(&c.WS.PingInterval, "ws-ping-interval", 25*time.Second, "WebSocket ping interval")
	dur(&c.WS.PongTimeout, "ws-pong-timeout", 60*time.Second, "close a WebSocket silent this long")
	dur(&c.WS.SessionBound, "session-end-bound", repo.DefaultSessionEndBound, "a WebSocket whose session ended (close order lost) is closed within this, and acts on no frame once its session ended longer ago; the node reads the feed of ended sessions every quarter of it")
	dur(&c.WS.SessionCheckInterval, "ws-session-check-interval", 30*time.Second, "while the feed of ended sessions cannot be read: how often each WebSocket re-reads its own session (jittered)")
	dur(&c.WS.SessionBackstop, "ws-session-backstop", 5*time.Minute, "while the feed of ended sessions vouches for a WebSocket: how old its own last session read may grow before it reads again, for an end replicated too late for the feed")
	num(&c.API.ExportConcurrency, "export-concurrency", 4, "exports (GET /v1/me/export) running at once on one node; past it, 503 with a retry hint")
	dur(&c.API.DebugSendDelay, "debug-send-delay", 0, "testing only: pause each send between making its id and writing it")
	dur(&c.API.Deletion.DebugStepDelay, "debug-deletion-delay", 0, "testing only: pause an account deletion before each conversation it leaves")
	dur(&c.API.DebugAckDelay, "debug-ack-delay", 0, "testing only: pause each send between writing it and answering")
	str(&c.S3.Endpoint, "s3-endpoint", "", "S3-compatible endpoint; empty for AWS S3")
	str(&c.S3.Region, "s3-region", "us-east-1", "S3 region")
	str(&c.S3.Bucket, "s3-bucket", "ringchat-media", "bucket for media")
	str(&pathStyle, "s3-path-style", "false", "path-style addressing (most S3-compatible stores need true)")
	str(&c.S3.AccessKey, "s3-access-key", "", "static access key; empty uses the AWS default credential chain")
	fe.Secret(&c.S3.SecretKey, "s3-secret-key", "static secret key")
	num(&mediaMB, "media-max-mb", 16, "largest upload in MiB")
	dur(&c.API.Media.UploadTTL, "media-upload-ttl", 10*time.Minute, "presigned upload URL lifetime")
	dur(&c.API.Media.DownloadTTL, "media-download-ttl", 5*time.Minute, "presigned download URL lifetime")
	str(&c.WebDir, "web-dir", "", "folder of the built web app (make web: web/dist) to serve under /app/ on the public listener; empty: none")
	str(&c.Admin, "admin-listen", "127.0.0.1:9090", "admin listener: /metrics, /healthz, /readyz, /debug/pprof (port 0: any free port)")
	str(&c.Internal, "internal-listen", "127.0.0.1:0", "address of the node-to-node listener (port 0: any free port)")
	str(&c.Cluster.InternalAddr, "advertise-addr", "", "host:port other nodes use to reach the internal listener (default: its address)")
	fe.Secret(&c.Cluster.Secret, "cluster-secret", "key shared by all nodes to sign node-to-node calls (HMAC-SHA256; at least 16 bytes); empty: single node, no forwarding")
	str(&c.Cluster.Name, "cluster-name", "default", "nodes with the same name and keyspace form one cluster")
	dur(&c.Cluster.NodeTTL, "node-ttl", 15*time.Second, "node registry row TTL: a dead node stops receiving within it")
	dur(&c.Cluster.RouteRefresh, "route-refresh", time.Hour, "how often a node rewrites its users' route hints (TTL is twice this)")
	dur(&c.LeaseTTL, "node-lease-ttl", 30*time.Second, "Snowflake node-id lease TTL")
	dur(&c.CatchUpWindow, "replica-catchup", repo.DefaultCatchUpWindow, "with a keyspace in several DCs: once nodes of --local-dc that could make up a local read quorum were lost, from the return of one until this long after the last came back, requests read at EACH_QUORUM, so a device is not handed a sync cursor past writes they missed (0: never)")
	dur(&c.Shutdown, "shutdown-timeout", 15*time.Second, "bound on graceful shutdown")
	c.Notify.flags(fe)
	c.Hooks.flags(fe)
	botFlags(fe, &c.API)
	if err := fe.Parse(args); err != nil {
		return config{}, err
	}
	if err := c.Notify.apply(&c.API.Notify); err != nil {
		return config{}, err
	}
	var err error
	if c.beforeSend, err = c.Hooks.apply(&c.API.Config); err != nil {
		return config{}, err
	}
	if c.events, err = c.Hooks.events(&c.API.Notify); err != nil {
		return config{}, err
	}
	if err := checkBots(c.API); err != nil {
		return config{}, err
	}
	if err := c.API.AccessLogLevel.UnmarshalText([]byte(accessLevel)); err != nil {
		return config{}, fmt.Errorf("access-log-level: %w", err)
	}
	if c.HTTP.ReadHeaderTimeout <= 0 || c.HTTP.ReadTimeout < c.HTTP.ReadHeaderTimeout || c.HTTP.MaxHeaderBytes < 4096 {
		return config{}, fmt.Errorf("http-read-header-timeout must be positive and at most http-read-timeout, http-max-header-bytes at least 4096")
	}
	c.Cassandra.Hosts = strings.Split(hosts, ",")
	c.S3.PathStyle = pathStyle == "true" || pathStyle == "1"
	switch inboxRefs {
	case "true", "1":
		c.API.InboxReferences = true
	case "false", "0":
		c.API.InboxReferences = false
	default:
		return config{}, fmt.Errorf("inbox-references: %q is neither true nor false", inboxRefs)
	}
	c.API.Media.MaxBytes = int64(mediaMB) << 20
	c.API.SendRate = float64(sendRate)
	if c.Cluster.Secret != "" && len(c.Cluster.Secret) < 16 {
		return config{}, fmt.Errorf("cluster-secret must be at least 16 bytes")
	}
	c.API.Auth.AddressRate, c.API.Auth.HandleRate = float64(authAddressRate), float64(authHandleRate)
	if c.WS.SessionBound < 200*time.Millisecond || c.WS.SessionBound > repo.MaxSessionEndBound {
		return config{}, fmt.Errorf("session-end-bound (%s) must be from 200ms to %s", c.WS.SessionBound, repo.MaxSessionEndBound)
	}
	// The rows' TTL is the largest bound's, not this node's: a writer's rows
	// must outlive the gap of every reader, whatever bound that one has.
	c.Retention.SessionEnds = repo.SessionEndsTTL
	if c.Retention.HandleHold < time.Second {
		return config{}, fmt.Errorf("handle-hold (%s) must be at least 1s", c.Retention.HandleHold)
	}
	c.API.Deletion.SessionEndBound = c.WS.SessionBound
	if c.Retention.HandleClaim <= c.API.RequestTimeout {
		return config{}, fmt.Errorf("handle-claim-grace (%s) must exceed request-timeout (%s)", c.Retention.HandleClaim, c.API.RequestTimeout)
	}
	// A send's id may come from a node whose clock is ClockSkew ahead of the
	// syncing node's and be written up to SendDeadline later: the sync cursor
	// must stay behind both, or sync can pass an event before it exists.
	// repo.ClockSkew is the allowance the code is built with (reads look that
	// far past now, the session feed's overlap, how far ahead an id may be):
	// a real skew above it is outside the design whatever the sync lag.
	if c.ClockSkew > repo.ClockSkew {
		return config{}, fmt.Errorf("clock-skew (%s) may be at most %s, the allowance reads ahead of now and the session feed's overlap are built with (repo.ClockSkew)",
			c.ClockSkew, repo.ClockSkew)
	}
	if c.ClockSkew < 0 || c.API.SyncLag <= c.API.SendDeadline+c.ClockSkew {
		return config{}, fmt.Errorf("sync-lag (%s) must exceed send-deadline (%s) plus clock-skew (%s)",
			c.API.SyncLag, c.API.SendDeadline, c.ClockSkew)
	}
	return c, nil
}
