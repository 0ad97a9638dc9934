package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// rawWritesPerMessage: the claim, the message row, the chat-list cell and
// two inbox rows, as chatd writes for a direct message (docs/fanout.md).
const rawWritesPerMessage = 5

// runRaw writes what a direct-message send writes, in the same order and
// with the same repo code as chatd, from -inflight workers as fast as the
// node answers: the ceiling chatd's throughput is compared with.
func runRaw(ctx context.Context, store *repo.Store, p *Population, o options, res *Result, progress func(string)) error {
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
				progress(fmt.Sprintf("raw: %d messages written", sent.Load()))
			}
		}
	}()
	repeat(ctx, o.inflight, func() {
		k := rand.IntN(len(p.Convs))
		t0 := time.Now()
		err := writeDirectMessage(context.WithoutCancel(ctx), store, gen, p.Users[2*k], p.Users[2*k+1], p.Convs[k], o.size)
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
	res.Raw = &RawCeiling{Workers: o.inflight, WritesPerMessage: rawWritesPerMessage,
		WritesPerSecond: res.Throughput * rawWritesPerMessage}
	return nil
}

func writeDirectMessage(ctx context.Context, store *repo.Store, gen *snowflake.Generator, from, to, conv int64, size int) error {
	id := gen.Next()
	cmid := "raw" + strconv.FormatInt(id, 36)
	claim, err := store.ClaimSend(ctx, from, cmid, conv, id)
	if err != nil {
		return err
	}
	m := repo.Message{ID: claim.MsgID, ConvID: conv, SenderID: from, ClientMsgID: cmid, Body: paddedBody(time.Now().UnixNano(), size)}
	if err := store.PutMessage(ctx, m); err != nil {
		return err
	}
	if err := store.TouchConversation(ctx, conv, m.ID); err != nil {
		return err
	}
	payload, _ := json.Marshal(map[string]any{"id": strconv.FormatInt(m.ID, 10), "conversation_id": strconv.FormatInt(conv, 10),
		"sender_id": strconv.FormatInt(from, 10), "client_msg_id": cmid, "body": m.Body})
	return store.AppendEvent(ctx, []int64{from, to}, repo.Event{ID: m.ID, Kind: repo.EventMessageNew, ConvID: conv, MsgID: m.ID, Payload: string(payload)})
}
