package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// print writes v as one line of JSON with --json, or the text form.
func (e *env) print(v any, text func(io.Writer)) error {
	if e.jsonOut || text == nil {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	text(e.stdout)
	return nil
}

// printMessage is one message as a line: time, sender, body.
func (e *env) printMessage(c *client, m message) {
	who := "@" + e.handleOf(c, m.SenderID)
	body := m.Body
	if m.Recalled {
		body = "(recalled)"
	}
	fmt.Fprintf(e.stdout, "%s %s %s: %s\n", m.CreatedAt.Local().Format(time.DateTime), m.ConversationID, terminalSafe(who), terminalSafe(body))
}

// handleOf names a user by handle, asking the server once per user a run.
func (e *env) handleOf(c *client, userID string) string {
	if e.handles == nil {
		e.handles = map[string]string{}
	}
	if h, ok := e.handles[userID]; ok {
		return h
	}
	h := userID // unknown (deleted, or the look-up failed): the id
	var out struct {
		User user `json:"user"`
	}
	if err := c.do(e.ctx, "GET", "/users/"+url.PathEscape(userID), nil, nil, &out); err == nil && out.User.Handle != "" {
		h = out.User.Handle
	}
	if len(e.handles) < 10000 {
		e.handles[userID] = h
	}
	return h
}

func (e *env) userByHandle(c *client, handle string) (user, error) {
	handle = strings.TrimPrefix(handle, "@")
	var out struct {
		User user `json:"user"`
	}
	if err := c.do(e.ctx, "GET", "/users", url.Values{"handle": {handle}}, nil, &out); err != nil {
		return user{}, fmt.Errorf("user @%s: %w", handle, err)
	}
	return out.User, nil
}

// direct opens (or finds: the server keeps one per pair) the DM with handle.
func (e *env) direct(c *client, handle string) (conversation, error) {
	u, err := e.userByHandle(c, handle)
	if err != nil {
		return conversation{}, err
	}
	var out struct {
		Conversation conversation `json:"conversation"`
	}
	err = c.do(e.ctx, "POST", "/conversations", nil, map[string]any{"kind": "direct", "member_ids": []string{u.ID}}, &out)
	return out.Conversation, err
}

// target is a conversation named by id, or by @handle for the DM with them.
func (e *env) target(c *client, arg string) (string, error) {
	if strings.HasPrefix(arg, "@") {
		conv, err := e.direct(c, arg)
		return conv.ID, err
	}
	for _, r := range arg {
		if r < '0' || r > '9' {
			return "", usagef("%q is neither a conversation id nor @handle", arg)
		}
	}
	if arg == "" {
		return "", usagef("empty conversation")
	}
	return arg, nil
}

// terminalSafe shows control characters as escapes: a body (or a handle)
// must not forge a line, or move the cursor, recolour or retitle the
// terminal with escape sequences.
func terminalSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
