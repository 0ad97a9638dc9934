// Package api serves ringchat's public REST and WebSocket API with Echo.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/ringchat/ringchat/api/obs"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// Config holds the API's knobs: the product's (chat.Config) and the HTTP
// surface's own; zero values take the defaults.
type Config struct {
	chat.Config
	BodyBytes string // Echo body limit, e.g. "64K"
	// AccessLogLevel is the level of the per-request log line below 500;
	// answers of 500 and more log at warn.
	AccessLogLevel slog.Level
	// AdminToken opens the admin API (admin.go); "": the API is off.
	AdminToken string
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Config: chat.DefaultConfig(), BodyBytes: "64K", AccessLogLevel: slog.LevelDebug}
}

// Sockets serves WebSocket connections (delivery/ws.Hub).
type Sockets interface {
	Serve(w http.ResponseWriter, r *http.Request, id ws.Identity, h ws.Handler) error
}

// Deps are the server's collaborators.
type Deps struct {
	Store    *repo.Store
	IDs      chat.IDs
	Sockets  Sockets
	Delivery chat.Delivery // delivery.Node
	Objects  chat.Objects  // nil: media endpoints answer 503
	Presence chat.Presence
	Metrics  *obs.Metrics // nil: no metrics
	Log      *slog.Logger
	// SendIDKey derives message ids from UUIDv7 client_msg_ids
	// (repo.Store.SendIDKey); nil: every send takes the send_dedupe claim.
	SendIDKey []byte
	// CatchUp says when requests must read across DCs (repo.CatchUp); nil: never.
	CatchUp *repo.CatchUp
	// BeforeSend checks every body before it is stored; nil: none.
	BeforeSend chat.BeforeSendHook
}

// Server is one chatd node's HTTP surface: it decodes requests, calls the
// use cases of chat.App, and encodes their answers.
type Server struct {
	cfg     Config
	app     *chat.App
	sockets Sockets
	metrics *obs.Metrics
	log     *slog.Logger
	echo    *echo.Echo
}

// New builds the server and its routes.
func New(cfg Config, d Deps) *Server {
	deps := chat.Deps{Store: d.Store, IDs: d.IDs, Delivery: d.Delivery, Objects: d.Objects, Presence: d.Presence,
		Log: d.Log, SendIDKey: d.SendIDKey, CatchUp: d.CatchUp, BeforeSend: d.BeforeSend}
	if d.Metrics != nil {
		deps.Metrics = d.Metrics
	}
	s := &Server{cfg: cfg, app: chat.New(cfg.Config, deps), sockets: d.Sockets, metrics: d.Metrics, log: d.Log}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.accessLog)
	e.Use(d.Metrics.Echo())
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(cfg.BodyBytes))
	e.Use(s.timeout)
	e.Use(s.unknownPathNeedsToken)
	s.echo = e
	s.routes()
	d.Metrics.SendResults([]string{"rest", "ws"}, sendResults())
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
	a.POST("/me/delete", s.deleteMe)
	a.GET("/me/export", s.exportMe)
	a.GET("/me", s.getMe)
	a.PATCH("/me", s.patchMe)
	a.GET("/me/devices", s.listDevices)
	a.DELETE("/me/devices/:device_id", s.revokeDevice)
	a.GET("/me/push", s.getPushTarget)
	a.PUT("/me/push", s.putPushTarget)
	a.DELETE("/me/push", s.deletePushTarget)
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
	s.adminRoutes()
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
		// Every read of the request, its token's included, at the
		// consistency chosen now (chat.App.ReadContext).
		c.SetRequest(c.Request().WithContext(s.app.ReadContext(ctx)))
		return next(c)
	}
}

// App is the node's use cases, for the workers chatd runs beside the
// doors (the notification workers).
func (s *Server) App() *chat.App { return s.app }
