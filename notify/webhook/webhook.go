// Package webhook delivers notifications to an integration's URL, signed by
// the Standard Webhooks scheme (webhook-id, webhook-timestamp,
// webhook-signature: HMAC-SHA256 with the target's secret), using the
// scheme's own Go library.
package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/repo"
)

// Config tunes the sender; zero values take the defaults.
type Config struct {
	Timeout time.Duration // default 10 s
	// AllowPrivate lets URLs reach loopback and private addresses: local
	// test servers only. Without it the dialer refuses them, whatever a name
	// resolves to, so a client-registered URL cannot reach chatd's network.
	AllowPrivate bool
	// DefaultRetryAfter is the wait for a 429 or 503 without Retry-After (default 30 s).
	DefaultRetryAfter time.Duration
	// IdlePerHost bounds idle connections kept per host (default 4: many
	// integrations' URLs; one operator endpoint wants more).
	IdlePerHost int
}

// Sender posts notices as JSON.
type Sender struct {
	cfg    Config
	client *http.Client
}

// New makes a sender.
func New(cfg Config) *Sender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.DefaultRetryAfter <= 0 {
		cfg.DefaultRetryAfter = 30 * time.Second
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	if !cfg.AllowPrivate {
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout, MaxIdleConnsPerHost: cmp.Or(cfg.IdlePerHost, 4), IdleConnTimeout: time.Minute}
	return &Sender{cfg: cfg, client: &http.Client{Transport: transport, Timeout: cfg.Timeout,
		// A redirect could lead to any address; the integration must give its final URL.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// refusePrivate runs on the address actually dialled, after DNS.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dial %s: %w", address, err)
	}
	if repo.NonPublicAddr(ap.Addr()) {
		return &notify.PermanentError{Err: fmt.Errorf("webhook: %s is not a public address", ap.Addr())}
	}
	return nil
}

// Kind is notify.KindWebhook.
func (s *Sender) Kind() notify.Kind { return notify.KindWebhook }

// Payload is the JSON body of a delivery.
type Payload struct {
	Type string       `json:"type"` // "notification"
	Data notification `json:"data"`
}

type notification struct {
	ID             string `json:"id"`
	UserID         string `json:"user_id"`
	DeviceID       string `json:"device_id"`
	ConversationID string `json:"conversation_id"`
	MessageID      string `json:"message_id"`
	Event          string `json:"event"`
	Title          string `json:"title"`
	Body           string `json:"body"`
	Count          int    `json:"count"`
	Badge          int    `json:"badge"`
}

// SignedRequest is a POST of the JSON body to url with the Standard Webhooks
// headers: id (the same for every retry of one delivery), now and wh's
// signature of them and body.
func SignedRequest(ctx context.Context, url string, wh *standardwebhooks.Webhook, id string, body []byte) (*http.Request, error) {
	now := time.Now()
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		return nil, fmt.Errorf("sign webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ringchat-webhooks")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	return req, nil
}

// Send posts n to t.Endpoint, signed with t.Secret; the webhook-id is n.ID,
// so a receiver drops a retry it has already handled.
func (s *Sender) Send(ctx context.Context, t notify.Target, n notify.Notification) error {
	wh, err := standardwebhooks.NewWebhook(t.Secret)
	if err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("webhook secret: %w", err)}
	}
	body, err := json.Marshal(Payload{Type: "notification", Data: notification{ID: n.ID, UserID: n.UserID, DeviceID: n.DeviceID,
		ConversationID: n.ConversationID, MessageID: n.MessageID, Event: n.Event, Title: n.Title, Body: n.Body, Count: n.Count, Badge: n.Badge}})
	if err != nil {
		return &notify.PermanentError{Err: err}
	}
	return s.Post(ctx, t.Endpoint, wh, n.ID, body)
}

// eventPayload is an event's JSON body (the Standard Webhooks payload shape).
type eventPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// SendEvent posts one event (typ and its data, as JSON) to t.Endpoint, signed
// with t.Secret under webhook-id id: a bot's message.created, or the
// operator's events. Its error is classified as Send's.
func (s *Sender) SendEvent(ctx context.Context, t notify.Target, id, typ string, data any) error {
	wh, err := standardwebhooks.NewWebhook(t.Secret)
	if err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("webhook secret: %w", err)}
	}
	body, err := json.Marshal(eventPayload{Type: typ, Timestamp: time.Now().UTC(), Data: data})
	if err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("event body: %w", err)}
	}
	return s.Post(ctx, t.Endpoint, wh, id, body)
}

// Post sends one signed delivery of body to url and classifies the answer
// as Send does: nil for 2xx, ErrGone for 410, a *RetryAfterError for 429
// and 503, a transient error for 5xx and 408 (and no answer), else (other
// 3xx and 4xx) a *PermanentError.
func (s *Sender) Post(ctx context.Context, url string, wh *standardwebhooks.Webhook, id string, body []byte) error {
	req, err := SignedRequest(ctx, url, wh, id, body)
	if err != nil {
		return &notify.PermanentError{Err: err}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var perm *notify.PermanentError
		if errors.As(err, &perm) {
			return perm
		}
		return fmt.Errorf("webhook post: %w", err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return s.answer(resp, excerpt)
}

func (s *Sender) answer(resp *http.Response, excerpt []byte) error {
	code := resp.StatusCode
	err := fmt.Errorf("webhook answered %d: %q", code, excerpt)
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusGone:
		return fmt.Errorf("%w: %w", notify.ErrGone, err)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return &notify.RetryAfterError{After: RetryAfter(resp.Header.Get("Retry-After"), time.Now(), s.cfg.DefaultRetryAfter), Err: err}
	case code >= 500 || code == http.StatusRequestTimeout:
		return err
	default: // other 3xx and 4xx: retrying sends the same refused request
		return &notify.PermanentError{Err: err}
	}
}

// RetryAfter reads a Retry-After header: seconds or an HTTP date; def when
// absent or unreadable. It is never negative.
func RetryAfter(h string, now time.Time, def time.Duration) time.Duration {
	if h == "" {
		return def
	}
	if s, err := strconv.Atoi(h); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if at, err := http.ParseTime(h); err == nil {
		return max(at.Sub(now), 0)
	}
	return def
}
