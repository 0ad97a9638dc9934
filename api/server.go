// Package api serves ringchat's public REST and WebSocket API with Echo.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/ringchat/ringchat/api/obs"
	"github.com/ringchat/ringchat/repo"
)

// Config holds the API's behaviour knobs; zero values take the defaults.
type Config struct {
	Limits         Limits
	Argon2         Argon2Params
	RequestTimeout time.Duration // bound on one request's storage work
	// SendDeadline bounds a send from id creation to the last inbox row; a send
	// that overruns is not acknowledged (the client retries).
	SendDeadline time.Duration
	// SyncLag is how far behind now the sync cursor stays: it must exceed
	// SendDeadline plus the clock skew between chatd nodes (docs/sync.md).
	SyncLag time.Duration
	// DebugSendDelay pauses every send between making its id and writing it.
	// Testing only: it simulates a slow writer to prove sync never skips.
	DebugSendDelay time.Duration
	// DebugAckDelay pauses every send between its writes and its answer.
	// Testing only: it lets a test kill a node that wrote but did not ack.
	DebugAckDelay time.Duration
	// DebugEditDelay pauses every edit between its write and its announce.
	// Testing only: it lets a recall land in between.
	DebugEditDelay time.Duration
	Media          MediaConfig
	Groups         GroupConfig
	EditWindow     time.Duration // the sender may edit this long after sending
	RecallWindow   time.Duration // the sender may recall this long after sending
	TypingEvery    time.Duration // at most one typing relay per user and conversation this often
	SendRate       float64       // messages per second per user on one node (0: unlimited)
	SendBurst      int
	// ReceiptEvery coalesces receipt events: at most one per member and
	// conversation this often (0: none). ReceiptRate bounds receipt frames
	// per user on one node (0: unlimited).
	ReceiptEvery time.Duration
	ReceiptRate  float64
	ReceiptBurst int
	// DirectCache is how many direct conversations' members a node keeps in
	// memory for sends (0: none); entries never go stale (directcache.go).
	DirectCache int
	// GroupCache is how many group member ids a node keeps for sends (0:
	// none); an entry serves only while the group's members version is the
	// one it was read under (groupcache.go).
	GroupCache int
	// SendConcurrency is the most sends one node keeps in flight; the bound
	// adapts below it to the ring's latency against SendLatencyTarget
	// (sendgate.go). 0: unbounded.
	SendConcurrency   int
	SendLatencyTarget time.Duration
	// SendQueue is how many sends over the bound may wait for a slot (at most
	// RequestTimeout - SendDeadline each); past it a send is refused at once.
	SendQueue int
	// InboxReferences: a direct message's inbox rows name the message instead
	// of copying it (docs/sync.md). Off while any node of a version before
	// references still serves sync: those cannot render such rows.
	InboxReferences bool
	// AccessLogLevel is the level of the per-request log line below 500;
	// answers of 500 and more log at warn.
	AccessLogLevel slog.Level
	// Auth bounds the password endpoints: hashing and attempt rates (authlimit.go).
	Auth AuthConfig
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Limits:            DefaultLimits(),
		Argon2:            DefaultArgon2,
		RequestTimeout:    5 * time.Second,
		SendDeadline:      3 * time.Second,
		SyncLag:           5 * time.Second,
		EditWindow:        15 * time.Minute,
		RecallWindow:      24 * time.Hour,
		TypingEvery:       2 * time.Second,
		SendRate:          10,
		SendBurst:         30,
		ReceiptEvery:      time.Second,
		ReceiptRate:       50,
		ReceiptBurst:      200,
		DirectCache:       100_000,
		GroupCache:        1_000_000,
		SendConcurrency:   512,
		SendLatencyTarget: time.Second,
		SendQueue:         512,
		InboxReferences:   true,
		AccessLogLevel:    slog.LevelDebug,
		Auth:              DefaultAuthConfig(),
		Groups:            GroupConfig{MaxMembers: 1000, PushMaxMembers: 100, MaxPullGroups: 500},
		Media:             MediaConfig{MaxBytes: 16 << 20, UploadTTL: 10 * time.Minute, DownloadTTL: 5 * time.Minute, MaxPerMsg: 10},
	}
}

// IDs makes Snowflake ids. TryNext fails once the node may no longer make
// them (its node-id lease is gone): the request is refused, never given an id
// another node may make too. *snowflake.Generator implements it.
type IDs interface{ TryNext() (int64, error) }

// Deps are the server's collaborators.
type Deps struct {
	Store    *repo.Store
	IDs      IDs
	Hub      Hub
	Objects  Objects // nil: media endpoints answer 503
	Presence Presence
	Metrics  *obs.Metrics // nil: no metrics
	Log      *slog.Logger
	// SendIDKey derives message ids from UUIDv7 client_msg_ids
	// (repo.Store.SendIDKey); nil: every send takes the send_dedupe claim.
	SendIDKey []byte
	// CatchUp says when sync must read across DCs (repo.CatchUp); nil: never.
	CatchUp *repo.CatchUp
}

// Server is one chatd node's HTTP surface.
type Server struct {
	cfg      Config
	store    *repo.Store
	ids      IDs
	hub      Hub
	objects  Objects
	presence Presence
	metrics  *obs.Metrics
	log      *slog.Logger
	echo     *echo.Echo
	now      func() time.Time

	typingLimit *relayLimiter
	chatMoves   *relayLimiter // pull-mode groups' chat-list moves, per conversation
	pullMoves   *keyedWork    // pull-mode groups' chat-list moves, off the send
	// firstVersions writes members versions of groups made before v0015.
	firstVersions *keyedWork
	sendLimit     *sendLimiter
	direct        *directMembers
	groups        *groupMembers
	sendGate      *sendGate
	receipts      *receiptCoalescer
	hashes        hashPool
	// dummyHash, verified when a login names no account, is made with the
	// configured Argon2 cost, so a failed lookup costs what a failed
	// password check does and response times do not tell which handles
	// exist.
	dummyHash  string
	catchUp    *repo.CatchUp
	authLimit  *authLimits
	changeLock messageLocks // orders one message's edit and recall announces on this node
	sendKey    sendIDKey    // nil: no derived message ids
}

// New builds the server and its routes.
func New(cfg Config, d Deps) *Server {
	s := &Server{cfg: cfg, store: d.Store, catchUp: d.CatchUp, ids: d.IDs, hub: d.Hub, objects: d.Objects, presence: d.Presence, metrics: d.Metrics, log: d.Log,
		now: func() time.Time { return time.Now().UTC() }, typingLimit: newRelayLimiter(cfg.TypingEvery),
		chatMoves: newRelayLimiter(pullChatMoveEvery), pullMoves: newKeyedWork(pullMoveSlots, cfg.RequestTimeout, d.Log),
		firstVersions: newKeyedWork(firstVersionSlots, cfg.RequestTimeout, d.Log),
		sendLimit:     newSendLimiter(cfg.SendRate, cfg.SendBurst), direct: newDirectMembers(cfg.DirectCache),
		groups:   newGroupMembers(cfg.GroupCache),
		sendGate: newSendGate(cfg.SendConcurrency, cfg.SendQueue, cfg.SendLatencyTarget),
		hashes:   newHashPool(cfg.Auth.HashConcurrency), authLimit: newAuthLimits(cfg.Auth)}
	if len(d.SendIDKey) > 0 {
		s.sendKey = sendIDKey(d.SendIDKey)
	}
	s.receipts = newReceiptCoalescer(cfg.ReceiptEvery, cfg.ReceiptRate, cfg.ReceiptBurst, s.flushReceipt)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.accessLog)
	e.Use(d.Metrics.Echo())
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(cfg.Limits.BodyBytes))
	e.Use(s.timeout)
	e.Use(s.unknownPathNeedsToken)
	s.echo = e
	s.routes()
	d.Metrics.Gauge("ringchat_send_concurrency_limit", "Sends this node admits at once now (adapts to Cassandra's latency).",
		func() float64 { return s.sendGate.state().limit })
	d.Metrics.Gauge("ringchat_sends_in_flight", "Sends being written on this node.",
		func() float64 { return float64(s.sendGate.state().inFlight) })
	d.Metrics.Gauge("ringchat_sends_waiting", "Sends over the bound waiting for a slot on this node.",
		func() float64 { return float64(s.sendGate.state().queue) })
	d.Metrics.Counter("ringchat_sends_queued_total", "Sends that waited for a slot before being written.",
		func() float64 { return float64(s.sendGate.state().queued) })
	d.Metrics.Counter("ringchat_sends_shed_total", "Sends refused (unavailable, retry hint) because the send queue was full or the wait would overrun.",
		func() float64 { return float64(s.sendGate.state().shed) })
	d.Metrics.SendResults([]string{"rest", "ws"}, sendResults())
	// An error here is crypto/rand failing, which registration would hit too.
	s.dummyHash, _ = hashPassword("not-a-real-password", cfg.Argon2)
	return s
}

// Handler is the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router (for route listings in tests and docs checks).
func (s *Server) Echo() *echo.Echo { return s.echo }

func (s *Server) routes() {
	v1 := s.echo.Group("/v1")
	v1.GET("/openapi.yaml", s.openAPI)
	v1.POST("/auth/register", s.register)
	v1.POST("/auth/login", s.login)

	a := authedRoutes{g: v1, mw: s.authenticate}
	a.POST("/auth/logout", s.logout)
	a.POST("/auth/logout-all", s.logoutAll)
	a.POST("/me/password", s.changePassword)
	a.GET("/me", s.getMe)
	a.PATCH("/me", s.patchMe)
	a.GET("/me/devices", s.listDevices)
	a.DELETE("/me/devices/:device_id", s.revokeDevice)
	a.GET("/users/:user_id", s.getUser)
	a.GET("/users", s.findUser)
	a.GET("/contacts", s.listContacts)
	a.PUT("/contacts/:user_id", s.putContact)
	a.DELETE("/contacts/:user_id", s.deleteContact)
	a.GET("/blocks", s.listBlocks)
	a.PUT("/blocks/:user_id", s.putBlock)
	a.DELETE("/blocks/:user_id", s.deleteBlock)
	a.POST("/conversations", s.createConversation)
	a.GET("/conversations", s.listConversations)
	a.PUT("/conversations/:conv_id/me", s.putMySettings)
	a.POST("/conversations/:conv_id/read", s.postRead)
	a.GET("/conversations/:conv_id/messages/:msg_id/receipts", s.getReceipts)
	a.PATCH("/conversations/:conv_id/messages/:msg_id", s.editMessage)
	a.DELETE("/conversations/:conv_id/messages/:msg_id", s.recallMessage)
	a.GET("/conversations/:conv_id", s.getConversation)
	a.PATCH("/conversations/:conv_id", s.patchConversation)
	a.DELETE("/conversations/:conv_id", s.deleteConversation)
	a.GET("/conversations/:conv_id/members", s.listMembers)
	a.PUT("/conversations/:conv_id/members/:user_id", s.putMember)
	a.DELETE("/conversations/:conv_id/members/:user_id", s.deleteMember)
	a.POST("/conversations/:conv_id/messages", s.sendMessage)
	a.GET("/conversations/:conv_id/messages", s.listMessages)
	a.GET("/sync", s.sync)
	a.GET("/presence", s.getPresence)
	a.POST("/ws/tickets", s.createTicket)
	a.POST("/media", s.createMedia)
	a.POST("/media/:media_id/complete", s.completeMedia)
	a.GET("/media/:media_id", s.getMedia)
	// The socket authenticates itself (header or ticket), so it sits outside the group.
	v1.GET("/ws", s.serveWS)
}

// authedRoutes registers routes behind one middleware. An echo.Group with
// middleware would add catch-all routes under its prefix so the middleware
// runs for unknown paths too; they outrank Echo's 405, turning a wrong method
// on a known path into 404 (or 401).
type authedRoutes struct {
	g  *echo.Group
	mw echo.MiddlewareFunc
}

func (r authedRoutes) GET(path string, h echo.HandlerFunc)    { r.g.GET(path, h, r.mw) }
func (r authedRoutes) POST(path string, h echo.HandlerFunc)   { r.g.POST(path, h, r.mw) }
func (r authedRoutes) PUT(path string, h echo.HandlerFunc)    { r.g.PUT(path, h, r.mw) }
func (r authedRoutes) PATCH(path string, h echo.HandlerFunc)  { r.g.PATCH(path, h, r.mw) }
func (r authedRoutes) DELETE(path string, h echo.HandlerFunc) { r.g.DELETE(path, h, r.mw) }

// unknownPathNeedsToken answers an unknown path 401 before 404, so paths
// cannot be probed without a token. (A known path with a wrong method is 405
// for anyone: the router says so before any middleware of the route runs.)
func (s *Server) unknownPathNeedsToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if errors.Is(err, echo.ErrNotFound) {
			if _, authErr := s.sessionOf(c.Request()); authErr != nil {
				return authErr
			}
		}
		return err
	}
}

// timeout bounds every request's storage work; the socket is exempt (it lives long).
func (s *Server) timeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().URL.Path == "/v1/ws" {
			return next(c)
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
		defer cancel()
		active, gen := s.catchUp.Active()
		if active {
			// The local DC may lack writes made elsewhere (repo.CatchUp): a
			// request reads what every DC acknowledged, its token included.
			ctx = repo.ReadAcrossDCs(ctx)
		}
		c.Set(catchUpGenKey, gen) // sync checks no return came since this choice
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// catchUpGenKey holds the repo.CatchUp generation a request's consistency
// was chosen at.
const catchUpGenKey = "catchup_gen"

// newID is the one place the API takes an id: once the node may no longer make
// them, the caller gets unavailable (503 or an error frame) and retries on
// another node.
func (s *Server) newID() (int64, error) {
	id, err := s.ids.TryNext()
	if err != nil {
		return 0, repo.Errorf(repo.CodeUnavailable, "this node is restarting: retry")
	}
	return id, nil
}
