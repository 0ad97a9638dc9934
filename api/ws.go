package api

import (
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/api/socket"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// serveWS authenticates the socket by bearer header or single-use ticket, then
// hands it to the hub until it closes.
func (s *Server) serveWS(c echo.Context) error {
	r := c.Request()
	// Checked before the ticket is consumed: a request that cannot become a
	// socket must not spend it, and gets the JSON error, not gorilla's text.
	if !websocket.IsWebSocketUpgrade(r) {
		return invalid("this endpoint needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)")
	}
	var sess repo.Session
	var hash []byte
	var err error
	if t := c.QueryParam("ticket"); t != "" {
		sess, hash, err = s.app.RedeemTicket(r.Context(), t)
	} else {
		hash = chat.SessionKey(bearer(r))
		sess, err = s.sessionOf(r)
	}
	if err != nil {
		return err
	}
	if err := chat.Allows(sess, scopeOf(c)); err != nil {
		return err
	}
	id := ws.Identity{UserID: sess.UserID, DeviceID: sess.DeviceID}
	// hash is nil for an older node's ticket: no session to watch.
	h := socket.New(s.app, sess, hash, func(send func() error) error { return s.countedSend("ws", send) })
	if err := s.sockets.Serve(c.Response(), r, id, h); err != nil {
		s.log.Debug("websocket ended", "user", sess.UserID, "device", sess.DeviceID, "err", err)
	}
	return nil
}
