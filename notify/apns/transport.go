package apns

import (
	"context"
	"io"
	"net/http"

	"golang.org/x/net/http2"
)

// maxResponseBody bounds what is read of an answer: Apple's are a short JSON
// object, and apns2 decodes the body with no limit of its own.
const maxResponseBody = 64 << 10

// exchange is what apns2's Response leaves out and Send needs: the status
// even when the body did not decode, Retry-After, and which provider token
// the request carried (to refresh only a token that is still current).
type exchange struct {
	status     int
	retryAfter string
	authz      string
}

type exchangeKey struct{}

// withExchange returns a context whose requests fill ex.
func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

// transport wraps the HTTP/2 transport to bound response bodies and fill the
// request's exchange.
type transport struct{ base *http2.Transport }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if ex, ok := req.Context().Value(exchangeKey{}).(*exchange); ok {
		ex.status = resp.StatusCode
		ex.retryAfter = resp.Header.Get("Retry-After")
		ex.authz = req.Header.Get("Authorization")
	}
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, maxResponseBody), Closer: resp.Body}
	return resp, nil
}

// CloseIdleConnections is what apns2.Client.CloseIdleConnections calls.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

type limitedBody struct {
	io.Reader
	io.Closer
}
