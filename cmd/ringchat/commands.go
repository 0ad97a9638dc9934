package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

type user struct {
	ID          string `json:"id"`
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name"`
}

type message struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	SenderID       string    `json:"sender_id"`
	ClientMsgID    string    `json:"client_msg_id"`
	Body           string    `json:"body"`
	CreatedAt      time.Time `json:"created_at"`
	Recalled       bool      `json:"recalled"`
}

type conversation struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Name        string `json:"name"`
	MemberCount int    `json:"member_count"`
}

func cmdContacts(e *env, args []string) error {
	var state string
	pos, err := flags("contacts", e, args, func(fs *flag.FlagSet) {
		fs.StringVar(&state, "state", "", "list only requested (I asked), pending (they asked) or accepted")
	})
	if err != nil {
		return err
	}
	c, err := e.authed()
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] == "list" {
		if len(pos) > 1 {
			return usagef("list takes no arguments")
		}
		return listContacts(e, c, state)
	}
	if len(pos) != 2 || (pos[0] != "add" && pos[0] != "remove") {
		return usagef("want list, add HANDLE or remove HANDLE")
	}
	u, err := e.userByHandle(c, pos[1])
	if err != nil {
		return err
	}
	if pos[0] == "remove" {
		if err := c.do(e.ctx, "DELETE", "/contacts/"+u.ID, nil, nil, nil); err != nil {
			return err
		}
		return e.print(map[string]string{"user_id": u.ID, "state": "none"}, func(w io.Writer) { fmt.Fprintf(w, "@%s removed\n", u.Handle) })
	}
	var out struct {
		State string `json:"state"`
	}
	if err := c.do(e.ctx, "PUT", "/contacts/"+u.ID, nil, nil, &out); err != nil {
		return err
	}
	return e.print(map[string]string{"user_id": u.ID, "state": out.State}, func(w io.Writer) { fmt.Fprintf(w, "@%s: %s\n", u.Handle, out.State) })
}

func listContacts(e *env, c *client, state string) error {
	type contact struct {
		User  user   `json:"user"`
		State string `json:"state"`
	}
	var all []json.RawMessage
	var shown []contact
	q := url.Values{"limit": {"100"}}
	if state != "" {
		q.Set("state", state)
	}
	for page := 0; page < maxPages; page++ {
		var out struct {
			Contacts   []json.RawMessage `json:"contacts"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := c.do(e.ctx, "GET", "/contacts", q, nil, &out); err != nil {
			return err
		}
		for _, raw := range out.Contacts {
			var ct contact
			_ = json.Unmarshal(raw, &ct)
			all, shown = append(all, raw), append(shown, ct)
		}
		if out.NextCursor == "" {
			break
		}
		q.Set("cursor", out.NextCursor)
	}
	return e.print(map[string]any{"contacts": all}, func(w io.Writer) {
		for _, ct := range shown {
			fmt.Fprintf(w, "@%-20s %-10s %s\n", ct.User.Handle, terminalSafe(ct.State), terminalSafe(ct.User.DisplayName))
		}
		if len(shown) == 0 {
			fmt.Fprintln(w, "no contacts")
		}
	})
}

// maxPages bounds a listing the CLI pages through (100 a page).
const maxPages = 50

func cmdDM(e *env, args []string) error {
	if len(args) != 1 {
		return usagef("want one HANDLE")
	}
	c, err := e.authed()
	if err != nil {
		return err
	}
	conv, err := e.direct(c, args[0])
	if err != nil {
		return err
	}
	return e.print(map[string]any{"conversation": conv}, func(w io.Writer) { fmt.Fprintln(w, conv.ID) })
}

// sendAttempts bounds retries of one send the server asked to repeat later.
const sendAttempts = 5

func cmdSend(e *env, args []string) error {
	if len(args) < 2 {
		return usagef("want a conversation and the text")
	}
	body := strings.Join(args[1:], " ")
	if body == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		body = strings.TrimRight(string(b), "\n")
	}
	c, err := e.authed()
	if err != nil {
		return err
	}
	convID, err := e.target(c, args[0])
	if err != nil {
		return err
	}
	// A UUIDv7: the server derives the message id from it, so a retry after
	// a lost answer lands on the same message (docs/sync.md).
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	var out struct {
		Message json.RawMessage `json:"message"`
	}
	req := map[string]string{"client_msg_id": id.String(), "body": body}
	for attempt := 1; ; attempt++ {
		err = c.do(e.ctx, "POST", "/conversations/"+convID+"/messages", nil, req, &out)
		wait, again := retryable(err)
		var ae *apiError
		if err != nil && !errors.As(err, &ae) { // no answer: the send may have landed; the same id makes the retry safe
			again, wait = true, time.Duration(attempt)*time.Second
		}
		if !again || attempt == sendAttempts {
			break
		}
		fmt.Fprintf(e.stderr, "ringchat send: %v; retrying in %s\n", err, wait)
		select {
		case <-time.After(wait):
		case <-e.ctx.Done():
			return e.ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	return e.print(out.Message, func(w io.Writer) {
		var m message
		_ = json.Unmarshal(out.Message, &m)
		fmt.Fprintf(w, "sent %s\n", m.ID)
	})
}

func cmdHistory(e *env, args []string) error {
	limit := 20
	pos, err := flags("history", e, args, func(fs *flag.FlagSet) {
		fs.IntVar(&limit, "limit", limit, "how many of the latest messages (at most 100)")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one conversation")
	}
	c, err := e.authed()
	if err != nil {
		return err
	}
	convID, err := e.target(c, pos[0])
	if err != nil {
		return err
	}
	var out struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := c.do(e.ctx, "GET", "/conversations/"+convID+"/messages", url.Values{"limit": {strconv.Itoa(limit)}}, nil, &out); err != nil {
		return err
	}
	// Newest first from the API; a terminal reads top to bottom.
	for i, j := 0, len(out.Messages)-1; i < j; i, j = i+1, j-1 {
		out.Messages[i], out.Messages[j] = out.Messages[j], out.Messages[i]
	}
	if e.jsonOut {
		return e.print(map[string]any{"messages": out.Messages}, nil)
	}
	for _, raw := range out.Messages {
		var m message
		_ = json.Unmarshal(raw, &m)
		e.printMessage(c, m)
	}
	return nil
}

func cmdGroups(e *env, args []string) error {
	c, err := e.authed()
	if err != nil {
		return err
	}
	if len(args) == 0 || (args[0] == "list" && len(args) == 1) {
		return listGroups(e, c)
	}
	if args[0] != "create" || len(args) < 2 {
		return usagef("want list, or create NAME HANDLE...")
	}
	ids := []string{}
	for _, h := range args[2:] {
		u, err := e.userByHandle(c, h)
		if err != nil {
			return err
		}
		ids = append(ids, u.ID)
	}
	var out struct {
		Conversation conversation `json:"conversation"`
	}
	if err := c.do(e.ctx, "POST", "/conversations", nil, map[string]any{"kind": "group", "name": args[1], "member_ids": ids}, &out); err != nil {
		return err
	}
	return e.print(out, func(w io.Writer) { fmt.Fprintln(w, out.Conversation.ID) })
}

func listGroups(e *env, c *client) error {
	type chat struct {
		Conversation conversation `json:"conversation"`
		UnreadCount  int          `json:"unread_count"`
	}
	var groups []chat
	var raws []json.RawMessage
	q := url.Values{"limit": {"100"}}
	for page := 0; page < maxPages; page++ {
		var out struct {
			Conversations []json.RawMessage `json:"conversations"`
			NextCursor    string            `json:"next_cursor"`
		}
		if err := c.do(e.ctx, "GET", "/conversations", q, nil, &out); err != nil {
			return err
		}
		for _, raw := range out.Conversations {
			var ch chat
			_ = json.Unmarshal(raw, &ch)
			if ch.Conversation.Kind == "group" {
				groups, raws = append(groups, ch), append(raws, raw)
			}
		}
		if out.NextCursor == "" {
			break
		}
		q.Set("cursor", out.NextCursor)
	}
	return e.print(map[string]any{"conversations": raws}, func(w io.Writer) {
		for _, g := range groups {
			fmt.Fprintf(w, "%s  %-30s %4d members, %d unread\n", g.Conversation.ID, terminalSafe(g.Conversation.Name), g.Conversation.MemberCount, g.UnreadCount)
		}
		if len(groups) == 0 {
			fmt.Fprintln(w, "no groups")
		}
	})
}
