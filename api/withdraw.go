package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
)

// withdrawParallelism bounds the message reads of one sync page.
const withdrawParallelism = 16

// withdrawRecalled replaces, in a page of sync events, the content of every
// message.new and message.edited event whose message is recalled by now with
// the recalled message. Inbox rows are written once and keep their payload for
// the inbox retention: a recall rewrites the original message.new row, but
// the rows of earlier edits and retries have ids of their own, and a write
// racing the recall may land after it. The message row's recalled flag is the
// one truth, read here for each message in the page (one point read per
// distinct message; a page holds at most the page limit).
func (s *Server) withdrawRecalled(ctx context.Context, events []repo.Event) error {
	type ref struct{ conv, msg int64 }
	recalled := map[ref]repo.Message{}
	var mu sync.Mutex
	checked := map[ref]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(withdrawParallelism)
	for _, ev := range events {
		r := ref{ev.ConvID, ev.MsgID}
		if !carriesContent(ev) || checked[r] {
			continue
		}
		checked[r] = true
		g.Go(func() error {
			m, err := s.store.GetMessage(gctx, r.conv, r.msg)
			if repo.IsCode(err, repo.CodeNotFound) || (err == nil && !m.Recalled) {
				return nil
			}
			if err != nil {
				return err
			}
			mu.Lock()
			recalled[r] = m
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, ev := range events {
		m, ok := recalled[ref{ev.ConvID, ev.MsgID}]
		if !ok {
			continue
		}
		var payload []byte
		if ev.Kind == repo.EventMessageNew {
			payload, _ = json.Marshal(messageOut(m))
		} else {
			payload, _ = json.Marshal(map[string]any{"message": messageOut(m)})
		}
		events[i].Payload = string(payload)
	}
	return nil
}

// carriesContent: an event that may hold a message's body or media. A payload
// already rendered recalled needs no read.
func carriesContent(ev repo.Event) bool {
	if ev.MsgID == 0 || (ev.Kind != repo.EventMessageNew && ev.Kind != repo.EventMessageEdited) {
		return false
	}
	return !strings.Contains(ev.Payload, `"recalled":true`)
}
