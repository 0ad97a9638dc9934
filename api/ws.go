package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

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
		sess, hash, err = s.store.ConsumeTicket(r.Context(), chat.TokenHash(t))
	} else {
		hash = chat.TokenHash(bearer(r))
		sess, err = s.sessionOf(r)
	}
	if err != nil {
		return err
	}
	id := ws.Identity{UserID: sess.UserID, DeviceID: sess.DeviceID}
	h := frameHandler{s: s, sess: sess}
	var served error
	if hash != nil {
		served = s.sockets.Serve(c.Response(), r, id, boundHandler{frameHandler: h, tokenHash: hash})
	} else { // an older node's ticket: no session to watch
		served = s.sockets.Serve(c.Response(), r, id, h)
	}
	if err := served; err != nil {
		s.log.Debug("websocket ended", "user", sess.UserID, "device", sess.DeviceID, "err", err)
	}
	return nil
}

// boundHandler is a frameHandler whose socket lives only as long as its
// session: the hub closes it at the token's expiry, when the session has
// ended by the time the socket is set up (a logout racing the upgrade), and
// when the node's feed of ended sessions, or (while the feed cannot be read)
// a re-check of its own, finds it gone (a close order lost on the way).
type boundHandler struct {
	frameHandler
	tokenHash []byte
}

// HandleFrame refuses frames of a socket whose session has ended: the
// socket is closed with 1008, as a logout closes it.
func (h boundHandler) HandleFrame(ctx context.Context, c *ws.Client, f ws.Frame) {
	if !c.SessionLive() {
		replyError(c, f.Ref, repo.Errorf(repo.CodeUnauthenticated, "session ended: log in again"))
		return
	}
	h.frameHandler.HandleFrame(ctx, c, f)
}

func (h boundHandler) Expiry() time.Time { return h.sess.ExpiresAt }

func (h boundHandler) SessionKey() []byte { return h.tokenHash }

// Live reports a store failure as an error: the hub keeps the socket (a
// socket authenticated a moment ago is not cut off because the store could
// not answer now) but does not count the check.
func (h boundHandler) Live(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, h.s.cfg.RequestTimeout)
	defer cancel()
	_, err := h.s.store.GetSession(ctx, h.tokenHash)
	if repo.IsCode(err, repo.CodeUnauthenticated) {
		return false, nil
	}
	return err == nil, err
}

// frameHandler answers one connection's client frames.
type frameHandler struct {
	s    *Server
	sess repo.Session
}

// frameHandlers is every client frame type a socket serves, beside "ping"
// (the hub answers it). The authorization matrix walks this table, so a new
// frame type cannot go untested.
var frameHandlers = map[string]func(frameHandler, context.Context, *ws.Client, ws.Frame){
	"message.send": frameHandler.messageSend,
	"typing":       frameHandler.typing,
	"delivered": func(h frameHandler, ctx context.Context, c *ws.Client, f ws.Frame) {
		h.receipt(ctx, c, f, repo.Delivered)
	},
	"read": func(h frameHandler, ctx context.Context, c *ws.Client, f ws.Frame) {
		h.receipt(ctx, c, f, repo.Read)
	},
}

func (h frameHandler) HandleFrame(ctx context.Context, c *ws.Client, f ws.Frame) {
	handle, ok := frameHandlers[f.Type]
	if !ok {
		replyError(c, f.Ref, invalid("unknown frame type %s", quote(f.Type)))
		return
	}
	handle(h, ctx, c, f)
}

func (h frameHandler) messageSend(ctx context.Context, c *ws.Client, f ws.Frame) {
	if err := h.s.countedSend("ws", func() error { return h.sendFrame(ctx, c, f) }); err != nil {
		replyError(c, f.Ref, err)
	}
}

// sendFrame sends and acknowledges a message.send frame, or returns why not.
func (h frameHandler) sendFrame(ctx context.Context, c *ws.Client, f ws.Frame) error {
	if err := h.s.app.ShedSend(); err != nil { // refused before the 4 KB body is decoded
		return err
	}
	// The read loop has closed any text frame that is not UTF-8 (1007).
	req, ok := decodeSendData(f.Data)
	if !ok {
		if err := json.Unmarshal(f.Data, &req); err != nil {
			return invalid("malformed message.send data")
		}
	}
	convID, err := parseID("conversation_id", req.ConversationID)
	if err != nil {
		return err
	}
	in, err := req.input(convID)
	if err != nil {
		return err
	}
	// A send under way is not cancelled when the socket closes (chat.App.Send):
	// it completes and stays idempotent, so a shutdown never leaves it
	// half-written. A send still waiting for a slot leaves with the socket.
	res, err := h.s.app.Send(ctx, h.sess, in)
	switch {
	case err != nil:
		return err
	case res.Payload != nil: // the JSON the push carried: the body is not encoded again
		c.ReplyRaw(f.Ref, "ack", ackOpen, res.Payload, ackClose)
	default:
		c.Reply(f.Ref, "ack", map[string]any{"message": chat.MessageOut(res.Message)})
	}
	return nil
}

// An ack's data is {"message": m}, around m's JSON.
var ackOpen, ackClose = []byte(`{"message":`), []byte(`}`)

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
