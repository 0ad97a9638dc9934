package ws

import (
	"context"
	"time"
)

// pinger pings every socket once per PingInterval, one shard at a time so
// the pings (and the writer goroutines they start) are spread over the
// interval rather than all at once.
func (h *Hub) pinger() {
	defer close(h.pingsDone)
	tick := time.NewTicker(max(h.cfg.PingInterval/shardCount, time.Millisecond))
	defer tick.Stop()
	for next := 0; ; next = (next + 1) % shardCount {
		select {
		case <-h.stopPings:
			return
		case <-tick.C:
		}
		s := &h.shards[next]
		s.mu.RLock()
		for _, cs := range s.users {
			for _, c := range cs {
				c.ping()
			}
		}
		s.mu.RUnlock()
	}
}

func (h *Hub) all(fn func(*Client)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, cs := range s.users {
			for _, c := range cs {
				fn(c)
			}
		}
		s.mu.RUnlock()
	}
}

// Shutdown refuses new sockets (Serve answers 503), closes every open one
// with 1012 so clients reconnect to another node, and waits until all of
// them have ended, their OnDisconnect hooks included. A frame being handled
// finishes first. If ctx ends first, Shutdown drops the remaining
// connections without waiting further and returns ctx's error.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.lifeMu.Lock()
	h.closing.Store(true)
	h.lifeMu.Unlock()
	h.stopOnce.Do(func() { close(h.stopPings); <-h.pingsDone })
	h.all(func(c *Client) { c.close(CloseServiceRestart, "server restarting") })
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		h.all(func(c *Client) { _ = c.conn.Close() })
		return ctx.Err()
	}
}
