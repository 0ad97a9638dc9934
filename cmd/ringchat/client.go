package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds what the CLI reads of one answer: the largest page the API
// returns (100 messages of 4 KB, escaped) fits many times over.
const maxBody = 16 << 20

// apiError is an error answer of the API: its status and the contract's
// {code, message}.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

// Error is printed to a terminal: the server's words are escaped there.
func (e *apiError) Error() string {
	return fmt.Sprintf("%s (%d): %s", terminalSafe(e.Code), e.Status, terminalSafe(e.Message))
}

// maxRetryAfter bounds a wait the server asks for: past it, better to fail
// and say why than to hang.
const maxRetryAfter = time.Minute

// client calls one chatd's REST API, as one user when token is set.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
}

func newClient(server, token string) (*client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want http(s)://host[:port]", server)
	}
	return &client{base: u, token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// do calls method path (under /v1) with body as JSON and decodes the answer
// into out (when not nil). An error answer is an *apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *c.base
	u.Path += "/v1" + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("%s %s: answer over %d bytes", method, path, maxBody)
	}
	if resp.StatusCode >= 300 {
		return answerError(resp, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// answerError reads the contract's error body; a proxy's page has none.
func answerError(resp *http.Response, data []byte) error {
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	e := &apiError{Status: resp.StatusCode}
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else {
		e.Code, e.Message = "http_"+strconv.Itoa(resp.StatusCode), http.StatusText(resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	return e
}

// retryable: the server asked to come back later (429 and 503 carry when).
func retryable(err error) (time.Duration, bool) {
	var e *apiError
	if errors.As(err, &e) && e.RetryAfter > 0 && (e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable) {
		return e.RetryAfter, true
	}
	return 0, false
}

// wsURL is the socket's address on the same server.
func (c *client) wsURL() string {
	u := *c.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/v1/ws"
	return u.String()
}
