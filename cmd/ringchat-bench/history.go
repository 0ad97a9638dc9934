package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

type historyOptions struct {
	messages, convs, bodyBytes int
	span                       time.Duration
}

// historyDepth is how many pages back a reader goes in one conversation.
const historyDepth = 4

// runHistory stores the history table once (reused by later runs), then has
// -inflight readers page back through random conversations over chatd's
// REST API for -duration, timing every 50-message page.
func runHistory(ctx context.Context, store *repo.Store, p *Population, o options, res *Result, smp sampler, progress func(string)) error {
	h := o.history
	if h.convs > len(p.Convs) {
		return fmt.Errorf("-history-convs %d: the population has only %d direct conversations", h.convs, len(p.Convs))
	}
	if err := seedHistory(ctx, store, p, o, progress); err != nil {
		return err
	}
	smp.waitQuiet(progress)
	smp.sample()
	res.History = &HistoryTable{Messages: h.messages, Conversations: h.convs, BodyBytes: h.bodyBytes, Span: h.span.String()}
	stats := newStats()
	var pages, failed atomic.Int64
	var firstErr atomic.Value
	rctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.inflight}}
	start := time.Now()
	repeat(rctx, o.inflight, func() {
		k := rand.IntN(h.convs)
		token := p.Tokens[2*k+rand.IntN(2)]
		cursor := ""
		for range historyDepth {
			next, err := readPage(rctx, client, o.url, token, p.Convs[k], cursor, stats)
			if err != nil {
				if rctx.Err() == nil && failed.Add(1) == 1 {
					firstErr.Store(err.Error())
				}
				break
			}
			pages.Add(1)
			if cursor = next; cursor == "" {
				break
			}
		}
	})
	elapsed := time.Since(start)
	res.StorePage = storePages(ctx, store, p, o, min(o.duration, 15*time.Second))
	smp.sample()
	res.Sent, res.Errors = pages.Load(), failed.Load()
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	res.Throughput = float64(pages.Load()) / elapsed.Seconds()
	res.Ack = summarize(stats.ackHist)
	progress(fmt.Sprintf("history: %d pages read", pages.Load()))
	return nil
}

// storePages times the page query alone, as chatd's repo code runs it (no
// HTTP, no token or membership check), from the same number of readers.
func storePages(ctx context.Context, store *repo.Store, p *Population, o options, d time.Duration) *Latency {
	stats := newStats()
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	repeat(rctx, o.inflight, func() {
		conv := p.Convs[rand.IntN(o.history.convs)]
		before := snowflake.MinIDAt(time.Now())
		for range historyDepth {
			t0 := time.Now()
			page, err := store.HistoryBefore(rctx, conv, before, 50)
			if err != nil || len(page.Messages) == 0 {
				break
			}
			stats.ack(time.Since(t0).Nanoseconds())
			before = page.Next
		}
	})
	l := summarize(stats.ackHist)
	return &l
}

// readPage fetches one 50-message page and returns the next page's cursor.
func readPage(ctx context.Context, c *http.Client, base, token string, conv int64, cursor string, stats *Stats) (string, error) {
	url := base + "/v1/conversations/" + strconv.FormatInt(conv, 10) + "/messages?limit=50"
	if cursor != "" {
		url += "&cursor=" + cursor
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var page struct {
		Messages   []json.RawMessage `json:"messages"`
		NextCursor string            `json:"next_cursor"`
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	stats.ack(time.Since(t0).Nanoseconds())
	if resp.StatusCode != http.StatusOK || err != nil {
		return "", fmt.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	if len(page.Messages) != 50 {
		return "", fmt.Errorf("GET %s: %d messages, want a full page of 50", url, len(page.Messages))
	}
	return page.NextCursor, nil
}

// seedHistory writes messages over the first convs direct conversations,
// their ids spread over the past span (so the pages cross time buckets), and
// leaves a marker so the next run reuses them.
func seedHistory(ctx context.Context, store *repo.Store, p *Population, o options, progress func(string)) error {
	h := o.history
	marker := filepath.Join(o.cache, fmt.Sprintf("history-%s-%d-%d-%d-%d.done", o.keyspace, o.users, h.messages, h.convs, h.bodyBytes))
	if _, err := os.Stat(marker); err == nil {
		progress("reusing the stored history table (" + marker + ")")
		return nil
	}
	perConv := h.messages / h.convs
	step := h.span / time.Duration(perConv)
	from := time.Now().Add(-h.span)
	body := paddedBody(0, h.bodyBytes)
	var done atomic.Int64
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(256)
	for j := range perConv {
		for k := range h.convs {
			g.Go(func() error {
				// Distinct per conversation, increasing with j: the low bits
				// (node and sequence) carry k.
				id := snowflake.MinIDAt(from.Add(time.Duration(j)*step)) + int64(k)
				m := repo.Message{ID: id, ConvID: p.Convs[k], SenderID: p.Users[2*k+j%2], ClientMsgID: "h" + strconv.Itoa(j), Body: body}
				if err := store.PutMessage(gctx, m); err != nil {
					return err
				}
				if d := done.Add(1); d%500_000 == 0 {
					progress(fmt.Sprintf("history: %d/%d messages stored (%.0f/s)", d, h.messages, float64(d)/time.Since(t0).Seconds()))
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("seed history: %w", err)
	}
	_ = os.MkdirAll(o.cache, 0o755)
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}
