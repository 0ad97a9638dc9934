package hook

import (
	"context"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/webhook"
)

// Events posts the operator's events (chat.EventHook: message.created,
// member.added, member.removed) to one endpoint, signed as the before-send
// check is; answers are classified as an integration webhook's (2xx done;
// 429 and 503 wait for Retry-After; other 5xx, 408 and no answer are
// retried; 410, other 3xx and 4xx are refusals).
type Events struct {
	target notify.Target
	sender *webhook.Sender
}

// NewEvents checks the endpoint's URL (http or https, any address: the
// operator's own service) and its whsec_ secret.
func NewEvents(endpoint, secret string) (*Events, error) {
	if _, err := endpointOf("event webhook", endpoint, secret); err != nil {
		return nil, err
	}
	// Each attempt is bounded by the notifier's context; the sender's own
	// timeout is a backstop.
	return &Events{target: notify.Target{Kind: notify.KindWebhook, Endpoint: endpoint, Secret: secret},
		sender: webhook.New(webhook.Config{AllowPrivate: true, IdlePerHost: 64})}, nil
}

// Post makes one delivery of ev; its webhook-id is ev.ID.
func (e *Events) Post(ctx context.Context, ev chat.OperatorEvent) error {
	return e.sender.SendEvent(ctx, e.target, ev.ID, ev.Type, ev.Data)
}
