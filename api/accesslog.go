package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/obs"
)

// accessLog logs every request once it is answered: 5xx at warn, the rest at
// cfg.AccessLogLevel (debug by default, so a busy node logs nothing per request
// unless asked). It logs the path without its query (a ticket rides there) and
// never a header (tokens do), so no secret reaches the log.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err) // answer now, so the status logged is the one sent
		}
		status := obs.Status(c)
		level := s.cfg.AccessLogLevel
		if status >= 500 {
			level = slog.LevelWarn
		}
		if !s.log.Enabled(context.Background(), level) {
			return nil
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		attrs := []slog.Attr{slog.String("method", c.Request().Method), slog.String("route", route),
			slog.String("path", c.Request().URL.Path), slog.Int("status", status),
			slog.Int64("bytes", c.Response().Size), slog.Duration("duration", time.Since(start)),
			slog.String("remote", c.Request().RemoteAddr)}
		if sess := session(c); sess.UserID != 0 {
			attrs = append(attrs, slog.Int64("user_id", sess.UserID), slog.Int64("device_id", sess.DeviceID))
		}
		s.log.LogAttrs(context.Background(), level, "request", attrs...)
		return nil
	}
}
