// Package hook calls the operator's integration endpoints over HTTP. The
// before-send check (chat.BeforeSendHook) is a signed POST answered with a
// verdict; requests carry the Standard Webhooks headers (webhook-id,
// webhook-timestamp, webhook-signature), so the endpoint verifies them with
// any of the scheme's libraries (docs/integrations.md).
package hook

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/notify/webhook"
)

// maxAnswer bounds the verdict read: a replacement body (4 KiB by default)
// JSON-escaped, with room to spare; a longer answer is a failed check.
const maxAnswer = 64 << 10

// BeforeSend asks an operator's endpoint for a verdict on each message.
type BeforeSend struct {
	url    string
	wh     *standardwebhooks.Webhook
	client *http.Client
}

// NewBeforeSend checks the endpoint's URL (http or https: the operator's
// own service, on any address it names) and its whsec_ secret. Each check is
// bounded by the context chat gives it.
func NewBeforeSend(endpoint, secret string) (*BeforeSend, error) {
	wh, err := endpointOf("before-send", endpoint, secret)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute, ForceAttemptHTTP2: true}
	return &BeforeSend{url: endpoint, wh: wh, client: &http.Client{Transport: transport,
		// The operator gives the endpoint's final URL; a redirect is a misconfiguration.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// endpointOf checks an operator endpoint's URL (http or https, any host:
// the operator's own service) and its whsec_ secret, and makes the signer.
func endpointOf(what, endpoint, secret string) (*standardwebhooks.Webhook, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s URL %q: want http(s)://host/path", what, endpoint)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("%s secret: %w (want whsec_ and base64)", what, err)
	}
	return wh, nil
}

// checkRequest is the JSON body the endpoint receives.
type checkRequest struct {
	Type string    `json:"type"` // chat.CheckSend or chat.CheckEdit
	Data checkData `json:"data"`
}

type checkData struct {
	ConversationID string   `json:"conversation_id"`
	SenderID       string   `json:"sender_id"`
	MessageID      string   `json:"message_id,omitempty"` // an edit's
	ClientMsgID    string   `json:"client_msg_id"`
	Body           string   `json:"body"`
	MediaIDs       []string `json:"media_ids"`
	ReplyTo        string   `json:"reply_to,omitempty"`
}

// checkAnswer is the endpoint's 200 answer (a 204 accepts).
type checkAnswer struct {
	Action string  `json:"action"`
	Reason string  `json:"reason"`
	Body   *string `json:"body"`
}

// Check posts m and reads the verdict.
func (b *BeforeSend) Check(ctx context.Context, m chat.BeforeSendMessage) (chat.Verdict, error) {
	media := make([]string, len(m.MediaIDs))
	for i, id := range m.MediaIDs {
		media[i] = chat.IDString(id)
	}
	d := checkData{ConversationID: chat.IDString(m.ConvID), SenderID: chat.IDString(m.SenderID), ClientMsgID: m.ClientMsgID,
		Body: m.Body, MediaIDs: media}
	if m.MsgID != 0 {
		d.MessageID = chat.IDString(m.MsgID)
	}
	if m.ReplyTo != 0 {
		d.ReplyTo = chat.IDString(m.ReplyTo)
	}
	body, err := json.Marshal(checkRequest{Type: m.Event, Data: d})
	if err != nil {
		return chat.Verdict{}, err
	}
	req, err := webhook.SignedRequest(ctx, b.url, b.wh, checkID(m, body), body)
	if err != nil {
		return chat.Verdict{}, err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return chat.Verdict{}, fmt.Errorf("before-send post: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return chat.Verdict{}, fmt.Errorf("before-send answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return chat.Verdict{Action: chat.VerdictAccept}, nil
	case resp.StatusCode != http.StatusOK:
		return chat.Verdict{}, fmt.Errorf("before-send answered %d: %.200q", resp.StatusCode, answer)
	case len(answer) > maxAnswer:
		return chat.Verdict{}, fmt.Errorf("before-send answer over %d bytes", maxAnswer)
	}
	var a checkAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		return chat.Verdict{}, fmt.Errorf("before-send answer is not a verdict: %w", err)
	}
	v := chat.Verdict{Action: a.Action, Reason: a.Reason}
	if a.Action == chat.VerdictReplace {
		if a.Body == nil {
			return chat.Verdict{}, errors.New("before-send replace without a body")
		}
		v.Body = *a.Body
	}
	return v, nil
}

// checkID is the webhook-id: a send's retries with the same content (sender,
// client_msg_id, conversation, body, media, reply) share it, so an endpoint
// may answer a repeat as it answered the first; any other content is another
// id. Each edit gets its own.
func checkID(m chat.BeforeSendMessage, body []byte) string {
	if m.Event == chat.CheckSend {
		h := sha256.New()
		h.Write([]byte(chat.IDString(m.SenderID) + "\x00" + m.ClientMsgID + "\x00"))
		h.Write(body) // the request's JSON: conversation, body, media, reply
		return "send_" + hex.EncodeToString(h.Sum(nil)[:12])
	}
	var r [12]byte
	_, _ = rand.Read(r[:])
	return "edit_" + hex.EncodeToString(r[:])
}
