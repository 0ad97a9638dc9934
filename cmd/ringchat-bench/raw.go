package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
	"golang.org/x/sync/errgroup"
)

// A raw run writes, per message, what chatd writes for a direct message
// (chat/send.go, docs/benchmark.md), with the same repo code, at once as
// chatd does: the message row, the conversation's chat-list cell, both
// members' chat-list rows, and both inbox rows (each naming the message, no
// body); since 2026-12-02 in chatd's statements: one read of both
// positions, one unlogged batch of the cell and both moves, one of both
// inbox rows. The raw line claims the client_msg_id first with
// chatd's lightweight transaction; raw-plain does not: the store's own
// ceiling for these rows.
const rawPlainWritesPerMessage = 6 // rows: message, cell, 2 list moves, 2 inbox rows (3 write statements)

// runRaw writes a direct message's rows from -inflight workers as fast as
// the node answers: the ceilings chatd's throughput is compared with.
func runRaw(ctx context.Context, store *repo.Store, p *Population, o options, res *Result, progress func(string)) error {
	claim := o.workload == "raw"
	gen, err := snowflake.NewGenerator(900 + int64(os.Getpid()%50))
	if err != nil {
		return err
	}
	stats := newStats()
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	go func() {
		for tick := time.NewTicker(5 * time.Second); ; {
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
				progress(fmt.Sprintf("%s: %d messages written", o.workload, sent.Load()))
			}
		}
	}()
	repeat(ctx, o.inflight, func() {
		k := rand.IntN(len(p.Convs))
		t0 := time.Now()
		_, err := writeDirectMessage(context.WithoutCancel(ctx), store, gen, p.Users[2*k], p.Users[2*k+1], p.Convs[k], o.size, claim)
		if err != nil {
			if failed.Add(1) == 1 {
				firstErr.Store(err.Error())
			}
			return
		}
		stats.ack(time.Since(t0).Nanoseconds())
		sent.Add(1)
	})
	elapsed := time.Since(start)
	res.Sent, res.Acked, res.Errors = sent.Load(), sent.Load(), failed.Load()
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	res.Throughput = float64(res.Acked) / elapsed.Seconds()
	res.Ack = summarize(stats.ackHist)
	writes := rawPlainWritesPerMessage
	if claim {
		writes++
	}
	res.Raw = &RawCeiling{Workers: o.inflight, Claim: claim, WritesPerMessage: writes,
		WritesPerSecond: res.Throughput * float64(writes)}
	return nil
}

// writeDirectMessage writes one direct message from -> to as chatd's send
// does (claim: behind the client_msg_id claim, as for an id without time).
func writeDirectMessage(ctx context.Context, store *repo.Store, gen *snowflake.Generator, from, to, conv int64, size int, claim bool) (repo.Message, error) {
	id := gen.Next()
	cmid := clientMsgID()
	if claim {
		c, err := store.ClaimSend(ctx, from, cmid, conv, id)
		if err != nil {
			return repo.Message{}, err
		}
		id = c.MsgID
	}
	m := repo.Message{ID: id, ConvID: conv, SenderID: from, ClientMsgID: cmid, Body: paddedBody(time.Now().UnixNano(), size),
		CreatedAt: snowflake.Time(id)}
	// An inbox row names the message (no payload): sync reads the body from
	// the message row, as chatd's send writes it.
	ev := repo.Event{ID: m.ID, Kind: repo.EventMessageNew, ConvID: conv, MsgID: m.ID}
	members := []int64{from, to}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return store.PutMessage(gctx, m) })
	// As chatd's direct send since 2026-12-02: one read of both members'
	// positions, then one batch of the conversation cell and both moves
	// (repo/directsend.go), and one batch of both inbox rows (AppendEvent).
	g.Go(func() error {
		pos, err := store.DirectPositions(gctx, conv, [2]int64{from, to})
		if err != nil {
			return err
		}
		return store.MoveDirect(gctx, conv, m.ID, pos)
	})
	g.Go(func() error { return store.AppendEvent(gctx, members, ev) })
	return m, g.Wait()
}
