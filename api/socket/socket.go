// Package socket is the WebSocket frame adapter: it decodes a client frame,
// calls one chat use case and answers with an ack or an error frame (the
// one place codes become frames: errors.go). It knows no Echo and no HTTP
// status; the hub (delivery/ws) owns the socket, api serves the upgrade.
package socket

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// Counted runs one send and counts its outcome by transport (the metric
// api counts REST's sends with), returning the send's error.
type Counted func(send func() error) error

// New is the handler of one socket of sess. With a session key (the token's
// hash, chat.SessionKey) the socket lives only as long as its session
// (ws.Bounded); without one (a ticket an older node made) it is not bound.
func New(app *chat.App, sess repo.Session, key []byte, counted Counted) ws.Handler {
	h := handler{app: app, sess: sess, counted: counted}
	if key == nil {
		return h
	}
	return bound{handler: h, key: key}
}

// handler answers one connection's client frames.
type handler struct {
	app     *chat.App
	sess    repo.Session
	counted Counted
}

// frames is every client frame type a socket serves, beside "ping" (the
// hub answers it). The authorization matrix walks it (FrameTypes), so a
// new frame type cannot go untested.
var frames = map[string]func(handler, context.Context, *ws.Client, ws.Frame){
	"message.send": handler.messageSend,
	"typing":       handler.typing,
	"delivered": func(h handler, ctx context.Context, c *ws.Client, f ws.Frame) {
		h.receipt(ctx, c, f, repo.Delivered)
	},
	"read": func(h handler, ctx context.Context, c *ws.Client, f ws.Frame) {
		h.receipt(ctx, c, f, repo.Read)
	},
}

// frameScopes is the scope a bot's token needs for each frame type
// (chat.Allows); every frame type has a row (TestEveryFrameTypeHasAScope).
var frameScopes = map[string]string{
	"message.send": chat.ScopeMessagesWrite,
	"typing":       chat.ScopeMessagesWrite,
	"delivered":    chat.ScopeMessagesWrite,
	"read":         chat.ScopeMessagesWrite,
}

// FrameScope is the scope frame type typ needs of a bot's token; a type
// without a row is for people alone.
func FrameScope(typ string) string {
	if scope, ok := frameScopes[typ]; ok {
		return scope
	}
	return chat.ScopePeopleOnly
}

// FrameTypes lists the client frame types a socket dispatches, sorted.
func FrameTypes() []string {
	types := make([]string, 0, len(frames))
	for t := range frames {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

func (h handler) HandleFrame(ctx context.Context, c *ws.Client, f ws.Frame) {
	handle, ok := frames[f.Type]
	if !ok {
		replyError(c, f.Ref, invalid("unknown frame type %s", quote(f.Type)))
		return
	}
	if err := chat.Allows(h.sess, FrameScope(f.Type)); err != nil {
		replyError(c, f.Ref, err)
		return
	}
	handle(h, ctx, c, f)
}

func (h handler) messageSend(ctx context.Context, c *ws.Client, f ws.Frame) {
	if err := h.counted(func() error { return h.sendFrame(ctx, c, f) }); err != nil {
		replyError(c, f.Ref, err)
	}
}

// sendFrame sends and acknowledges a message.send frame, or returns why not.
func (h handler) sendFrame(ctx context.Context, c *ws.Client, f ws.Frame) error {
	if err := h.app.ShedSend(); err != nil { // refused before the 4 KB body is decoded
		return err
	}
	// The read loop has closed any text frame that is not UTF-8 (1007).
	req, ok := decodeSendData(f.Data)
	if !ok {
		if err := json.Unmarshal(f.Data, &req); err != nil {
			return invalid("malformed message.send data")
		}
	}
	convID, err := wire.ParseID("conversation_id", req.ConversationID)
	if err != nil {
		return err
	}
	in, err := req.Input(convID)
	if err != nil {
		return err
	}
	// A send under way is not cancelled when the socket closes (chat.App.Send):
	// it completes and stays idempotent, so a shutdown never leaves it
	// half-written. A send still waiting for a slot leaves with the socket.
	res, err := h.app.Send(ctx, h.sess, in)
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

// bound is a handler whose socket lives only as long as its session: the
// hub closes it at the token's expiry, when the session has ended by the
// time the socket is set up (a logout racing the upgrade), and when the
// node's feed of ended sessions, or (while the feed cannot be read) a
// re-check of its own, finds it gone (a close order lost on the way).
type bound struct {
	handler
	key []byte
}

// HandleFrame refuses frames of a socket whose session has ended: the
// socket is closed with 1008, as a logout closes it.
func (b bound) HandleFrame(ctx context.Context, c *ws.Client, f ws.Frame) {
	if !c.SessionLive() {
		replyError(c, f.Ref, repo.Errorf(repo.CodeUnauthenticated, "session ended: log in again"))
		return
	}
	b.handler.HandleFrame(ctx, c, f)
}

func (b bound) Expiry() time.Time { return b.sess.ExpiresAt }

func (b bound) SessionKey() []byte { return b.key }

// Live reports a store failure as an error: the hub keeps the socket (a
// socket authenticated a moment ago is not cut off because the store could
// not answer now) but does not count the check.
func (b bound) Live(ctx context.Context) (bool, error) { return b.app.SessionLive(ctx, b.key) }
