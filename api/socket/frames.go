package socket

import (
	"context"
	"encoding/json"

	"github.com/ringchat/ringchat/api/wire"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// convFrame is the data of typing, delivered and read frames.
type convFrame struct {
	ConversationID string `json:"conversation_id"`
	UpTo           string `json:"up_to"`
}

// typing is chat.App.Typing. A frame over the rate is answered
// rate_limited only when it carries a ref; a relayed one never is.
func (h handler) typing(ctx context.Context, c *ws.Client, f ws.Frame) {
	var req convFrame
	convID, err := parseConvFrame(f, &req)
	if err == nil {
		err = h.app.Typing(ctx, h.sess, convID)
		if repo.IsCode(err, repo.CodeRateLimited) && f.Ref == "" {
			return
		}
	}
	answer(c, f, err, nil)
}

// receipt is chat.App.MarkReceipt for delivered and read frames.
func (h handler) receipt(ctx context.Context, c *ws.Client, f ws.Frame, w repo.Watermark) {
	var req convFrame
	convID, err := parseConvFrame(f, &req)
	if err == nil {
		var upTo int64
		if upTo, err = wire.ParseID("up_to", req.UpTo); err == nil {
			err = h.app.MarkReceipt(ctx, h.sess, convID, upTo, w)
		}
	}
	answer(c, f, err, map[string]any{})
}

func parseConvFrame(f ws.Frame, dst *convFrame) (int64, error) {
	if err := json.Unmarshal(f.Data, dst); err != nil {
		return 0, invalid("malformed %s data", f.Type)
	}
	return wire.ParseID("conversation_id", dst.ConversationID)
}

// answer replies to a frame that carries a ref: ack (when ok is not nil) or error.
func answer(c *ws.Client, f ws.Frame, err error, ok any) {
	if err != nil {
		replyError(c, f.Ref, err)
		return
	}
	if f.Ref != "" && ok != nil {
		c.Reply(f.Ref, "ack", ok)
	}
}
