package main

import (
	"fmt"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/cmd/internal/flagenv"
	"github.com/ringchat/ringchat/hook"
)

// hookConfig is the integration endpoints' part of the configuration
// (docs/integrations.md).
type hookConfig struct {
	beforeSendURL, beforeSendSecret, beforeSendFail string
	beforeSendTimeout                               time.Duration
	beforeSendParallel                              int
	eventsURL, eventsSecret                         string
}

func (h *hookConfig) flags(fe *flagenv.Set) {
	fe.String(&h.beforeSendURL, "before-send-url", "", "the operator's check of every message body before it is stored: a signed POST answered accept, reject or replace; empty: none")
	fe.Secret(&h.beforeSendSecret, "before-send-secret", "Standard Webhooks secret (whsec_…) signing the before-send requests")
	fe.Duration(&h.beforeSendTimeout, "before-send-timeout", time.Second, "bound on one before-send check, waiting for a slot included")
	fe.String(&h.beforeSendFail, "before-send-fail", "open", "when the check gives no verdict: open lets the message through as sent, closed refuses it (503, retry hint)")
	fe.Int(&h.beforeSendParallel, "before-send-parallel", 64, "before-send checks in flight on one node")
	fe.String(&h.eventsURL, "event-webhook-url", "", "the operator's endpoint of message.created, member.added and member.removed events: signed POSTs, at least once, through the notification outbox; empty: none")
	fe.Secret(&h.eventsSecret, "event-webhook-secret", "Standard Webhooks secret (whsec_…) signing the event webhook's requests")
}

// events builds the event webhook, and turns on the outbox rows it rides.
func (h *hookConfig) events(n *chat.NotifyConfig) (chat.EventHook, error) {
	if h.eventsURL == "" {
		if h.eventsSecret != "" {
			return nil, fmt.Errorf("event-webhook-secret is set without event-webhook-url")
		}
		return nil, nil
	}
	ev, err := hook.NewEvents(h.eventsURL, h.eventsSecret)
	if err != nil {
		return nil, err
	}
	n.Events = true
	return ev, nil
}

// botFlags are the admin API's and bots' flags (docs/integrations.md), and
// account deletion's (docs/accounts.md).
func botFlags(fe *flagenv.Set, c *api.Config) {
	fe.Secret(&c.AdminToken, "admin-token", "bearer token of the admin API (/v1/admin: bot accounts and their tokens), at least 32 characters; empty: the admin API is off")
	fe.Duration(&c.BotTokenLife, "bot-token-ttl", chat.DefaultBotTokenLife, "lifetime of a bot token the admin API issues (it is revoked sooner through the admin API)")
	fe.Duration(&c.Deletion.Sweep, "deletion-sweep", 30*time.Second, "how often a node finishes account deletions left unfinished (a node died half-way); one younger than four sweeps is left to its request")
}

// checkBots checks the admin API's flags.
func checkBots(c api.Config) error {
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		return fmt.Errorf("admin-token: %d characters; use at least 32 (random)", len(c.AdminToken))
	}
	if c.BotTokenLife < time.Hour || c.BotTokenLife > 10*365*24*time.Hour {
		return fmt.Errorf("bot-token-ttl %s: want between 1h and 10 years", c.BotTokenLife)
	}
	if c.Deletion.Sweep < 100*time.Millisecond {
		return fmt.Errorf("deletion-sweep %s: want at least 100ms", c.Deletion.Sweep)
	}
	return nil
}

// apply checks the flags against the request bounds and builds the check.
func (h *hookConfig) apply(c *chat.Config) (chat.BeforeSendHook, error) {
	switch h.beforeSendFail {
	case "open":
	case "closed":
		c.BeforeSend.FailClosed = true
	default:
		return nil, fmt.Errorf("before-send-fail: %q is neither open nor closed", h.beforeSendFail)
	}
	if h.beforeSendURL == "" {
		return nil, nil
	}
	// A send must still have its whole send deadline once checked.
	if most := c.RequestTimeout - c.SendDeadline; h.beforeSendTimeout <= 0 || h.beforeSendTimeout > most/2 {
		return nil, fmt.Errorf("before-send-timeout %s: want more than 0 and at most half of request-timeout less send-deadline (%s)", h.beforeSendTimeout, most/2)
	}
	if h.beforeSendParallel < 1 {
		return nil, fmt.Errorf("before-send-parallel %d: want at least 1", h.beforeSendParallel)
	}
	c.BeforeSend.Timeout, c.BeforeSend.Parallel = h.beforeSendTimeout, h.beforeSendParallel
	return hook.NewBeforeSend(h.beforeSendURL, h.beforeSendSecret)
}
