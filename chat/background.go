package chat

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// keyedWork runs store work the answer does not wait for: one task per key
// (a conversation) at a time, at most cap(slots) at once, each bounded by
// timeout. A task that finds its key busy or no slot free is dropped; what
// asked for it asks again on its next occasion.
type keyedWork struct {
	running sync.Map
	slots   chan struct{}
	timeout time.Duration
	log     *slog.Logger
}

func newKeyedWork(slots int, timeout time.Duration, log *slog.Logger) *keyedWork {
	return &keyedWork{slots: make(chan struct{}, slots), timeout: timeout, log: log}
}

// start runs fn in the background unless key's task runs or every slot is
// taken; a failure is logged as failed.
func (w *keyedWork) start(key int64, failed string, fn func(context.Context) error) {
	if _, busy := w.running.LoadOrStore(key, true); busy {
		return
	}
	select {
	case w.slots <- struct{}{}:
	default:
		w.running.Delete(key)
		return
	}
	go func() {
		defer func() { <-w.slots; w.running.Delete(key) }()
		ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
		defer cancel()
		if err := fn(ctx); err != nil {
			w.log.Warn(failed, "key", key, "err", err)
		}
	}()
}
