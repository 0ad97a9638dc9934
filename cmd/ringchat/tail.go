package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

const (
	maxBackoff   = 30 * time.Second
	syncEvery    = time.Minute // a live tail moves its cursor on, so a resume reads little
	maxFrame     = 1 << 20
	seenCapacity = 10000 // message ids remembered to drop repeats (sync overlaps live frames)
)

// frame is a server frame of the WebSocket protocol (docs/websocket.md).
type frame struct {
	Type    string          `json:"type"`
	EventID string          `json:"event_id"`
	Data    json.RawMessage `json:"data"`
}

type event struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	ConversationID string          `json:"conversation_id"`
	Data           json.RawMessage `json:"data"`
}

// tail prints new messages as they arrive, across drops: it connects the
// socket first, then syncs from its cursor (what arrived while it was away),
// dropping repeats by message id, as docs/sync.md asks of every client.
type tail struct {
	e      *env
	c      *client
	conv   string // "" for every conversation
	cursor string
	seen   map[string]bool
	order  []string // seen's ids, oldest first, to forget past seenCapacity
}

func cmdTail(e *env, args []string) error {
	if len(args) > 1 {
		return usagef("want at most one conversation")
	}
	c, err := e.authed()
	if err != nil {
		return err
	}
	t := &tail{e: e, c: c, seen: map[string]bool{}}
	if len(args) == 1 {
		if t.conv, err = e.target(c, args[0]); err != nil {
			return err
		}
	}
	// No cursor: the server starts this one at now.
	if err := t.sync(); err != nil {
		return err
	}
	backoff := time.Second
	for e.ctx.Err() == nil {
		began := time.Now()
		err := t.live()
		if e.ctx.Err() != nil {
			return nil
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			return fmt.Errorf("session ended (%w): log in again", err)
		}
		if time.Since(began) > maxBackoff { // it had been up a while: start over
			backoff = time.Second
		}
		// Full jitter: many clients cut off at once do not return at once.
		wait := time.Duration(rand.Int64N(int64(backoff))) + 100*time.Millisecond
		fmt.Fprintf(e.stderr, "ringchat tail: %v; reconnecting in %s\n", err, wait.Round(time.Millisecond))
		select {
		case <-time.After(wait):
		case <-e.ctx.Done():
			return nil
		}
		backoff = min(2*backoff, maxBackoff)
	}
	return nil
}

// live runs one connection until it drops: connect, catch up by sync, then
// print frames; it returns why the connection ended.
func (t *tail) live() error {
	header := http.Header{"Authorization": {"Bearer " + t.c.token}}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(t.e.ctx, t.c.wsURL(), header)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return &apiError{Status: resp.StatusCode, Code: "unauthenticated", Message: "the server refused the token"}
		}
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	conn.SetReadLimit(maxFrame)
	frames := make(chan frame, 256)
	failed := make(chan error, 1)
	left := make(chan struct{}) // live returned: the reader must not wait on frames
	defer close(left)
	go func() {
		for {
			var f frame
			if err := conn.ReadJSON(&f); err != nil {
				failed <- err
				return
			}
			select {
			case frames <- f:
			case <-left:
				return
			}
		}
	}()
	stop := closeOnCancel(t.e, conn)
	defer stop()
	// Connected first, then sync: nothing falls between the two.
	if err := t.sync(); err != nil {
		return err
	}
	tick := time.NewTicker(syncEvery)
	defer tick.Stop()
	for {
		select {
		case f := <-frames:
			if err := t.handle(f); err != nil {
				return err
			}
		case <-tick.C:
			if err := t.sync(); err != nil {
				return err
			}
		case err := <-failed:
			return fmt.Errorf("connection lost: %w", err)
		}
	}
}

// closeOnCancel closes the socket when the command is interrupted, so the
// reader returns; stop ends the watch.
func closeOnCancel(e *env, conn *websocket.Conn) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-e.ctx.Done():
			conn.Close()
		case <-done:
		}
	}()
	return func() { close(done) }
}

func (t *tail) handle(f frame) error {
	switch f.Type {
	case "message.new":
		t.show(f.Data)
	case "sync.required": // the server dropped frames for this socket
		return t.sync()
	}
	return nil
}

// sync reads every event since the cursor, page by page, and moves it on.
func (t *tail) sync() error {
	for page := 0; ; page++ {
		q := url.Values{"limit": {"100"}}
		if t.cursor != "" {
			q.Set("cursor", t.cursor)
		}
		var out struct {
			Events  []event `json:"events"`
			Cursor  string  `json:"cursor"`
			HasMore bool    `json:"has_more"`
		}
		err := t.c.do(t.e.ctx, "GET", "/sync", q, nil, &out)
		if wait, again := retryable(err); again && page < maxPages {
			select {
			case <-time.After(wait):
				continue
			case <-t.e.ctx.Done():
				return t.e.ctx.Err()
			}
		}
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		for _, ev := range out.Events {
			if ev.Type == "message.new" {
				t.show(ev.Data)
			}
		}
		t.cursor = out.Cursor
		if !out.HasMore {
			return nil
		}
	}
}

// show prints a message once, whether it came live, by sync, or both.
func (t *tail) show(data json.RawMessage) {
	var m message
	if json.Unmarshal(data, &m) != nil || m.ID == "" || t.seen[m.ID] {
		return
	}
	t.seen[m.ID] = true
	t.order = append(t.order, m.ID)
	if len(t.order) > seenCapacity {
		delete(t.seen, t.order[0])
		t.order = t.order[1:]
	}
	if t.conv != "" && m.ConversationID != t.conv {
		return
	}
	if t.e.jsonOut {
		_ = t.e.print(data, nil)
		return
	}
	t.e.printMessage(t.c, m)
}
