package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// The sync workload: one user with -sync-pending events waiting (direct
// messages of -size bytes from the peer, sent through chatd), then -inflight
// readers each syncing the whole backlog over REST, again and again, in pages
// of -sync-limit, timing every call. Queries per synced event come from
// chatd's /metrics.

// syncOptions are the sync workload's flags.
type syncOptions struct {
	pending, limit int
	lag            time.Duration
}

func (o *syncOptions) flags() {
	flag.IntVar(&o.pending, "sync-pending", 1000, "sync: events waiting for the reader")
	flag.IntVar(&o.limit, "sync-limit", 100, "sync: page size of a sync call")
	flag.DurationVar(&o.lag, "sync-lag", 5*time.Second, "sync: chatd's --sync-lag (the backlog is read once it is below the safe point)")
}

func runSync(ctx context.Context, p *Population, o options, res *Result, smp sampler, progress func(string)) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.inflight}}
	sender, reader, conv := p.Tokens[0], p.Tokens[1], p.Convs[0]
	var start syncAnswer
	if err := syncCall(ctx, client, o.url, o.sync.limit, reader, "", &start); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range o.sync.pending {
		g.Go(func() error {
			body, _ := json.Marshal(map[string]string{"client_msg_id": "sync-" + run + "-" + strconv.Itoa(i), "body": paddedBody(int64(i), o.size)})
			for attempt := 0; ; attempt++ {
				req, _ := http.NewRequestWithContext(gctx, http.MethodPost, o.url+"/v1/conversations/"+strconv.FormatInt(conv, 10)+"/messages", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+sender)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
					return nil
				case resp.StatusCode != http.StatusServiceUnavailable || attempt == 50:
					return fmt.Errorf("send %d: status %d", i, resp.StatusCode)
				}
				time.Sleep(100 * time.Millisecond) // shed: retry with the same client_msg_id, as clients do
			}
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("sync: seed the backlog: %w", err)
	}
	progress(fmt.Sprintf("sync: %d messages sent; waiting out the sync lag", o.sync.pending))
	time.Sleep(o.sync.lag + time.Second)
	smp.sample()
	stats := newStats()
	var calls, events, failed atomic.Int64
	var firstErr atomic.Value
	rctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	t0 := time.Now()
	repeat(rctx, o.inflight, func() {
		cursor := start.Cursor
		for rctx.Err() == nil {
			var page syncAnswer
			began := time.Now()
			err := syncCall(rctx, client, o.url, o.sync.limit, reader, cursor, &page)
			if err != nil {
				if rctx.Err() == nil && failed.Add(1) == 1 {
					firstErr.Store(err.Error())
				}
				return
			}
			stats.ack(time.Since(began).Nanoseconds())
			calls.Add(1)
			events.Add(int64(len(page.Events)))
			if cursor = page.Cursor; !page.HasMore {
				return
			}
		}
	})
	elapsed := time.Since(t0)
	smp.sample()
	res.Sent, res.Errors = calls.Load(), failed.Load()
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	res.Throughput = float64(calls.Load()) / elapsed.Seconds()
	res.Ack = summarize(stats.ackHist)
	progress(fmt.Sprintf("sync: %d calls returned %d events (the send→ack table times a sync call)", calls.Load(), events.Load()))
	return nil
}

type syncAnswer struct {
	Events  []json.RawMessage `json:"events"`
	Cursor  string            `json:"cursor"`
	HasMore bool              `json:"has_more"`
}

func syncCall(ctx context.Context, c *http.Client, base string, limit int, token, cursor string, out *syncAnswer) error {
	u := base + "/v1/sync?limit=" + strconv.Itoa(limit)
	if cursor != "" {
		u += "&cursor=" + url.QueryEscape(cursor)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
