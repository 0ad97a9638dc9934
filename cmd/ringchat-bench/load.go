package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// device is one connected user's socket.
type device struct {
	user int64
	conn *websocket.Conn
	wmu  sync.Mutex
	r    *run
}

// run is one load run's shared state.
type run struct {
	stats *Stats
	// readBuffers hold a frame while a device reads it: 100,000 idle
	// sockets hold none.
	readBuffers sync.Pool
	pending     sync.Map      // ref -> *inflight
	firstError  atomic.Value  // the first error frame's data, for the report
	audience    map[int64]int // conversation -> connected devices that must get each message
	// expected and received deliveries per message id, to find losses and repeats.
	mu       sync.Mutex
	expect   map[string]int
	received map[string]map[int64]int // msg id -> user -> count
}

// inflight is a sent message waiting for its ack.
type inflight struct {
	at   int64 // send time, ns
	conv int64
	done chan struct{} // closed on ack or error (closed-loop senders wait on it)
	// An error's code and retry hint, set before done is closed.
	code         string
	retryAfterMs int
}

// dial connects the devices of users [lo, hi) to chatd, user i to node
// i%len(urls), spreading the sockets over 127.0.x.y source addresses (one
// address has about 28,000 ports). devs is indexed like Population.Users;
// users outside the slice stay nil.
func dial(ctx context.Context, urls []string, p *Population, lo, hi int, r *run, progress func(string)) ([]*device, error) {
	devs := make([]*device, len(p.Users))
	var failed, done, retried atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := lo; i < hi; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			wsURL := "ws" + strings.TrimPrefix(urls[i%len(urls)], "http") + "/v1/ws"
			src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/25000), byte(1+i%250))}
			conn, tries, err := dialDevice(ctx, wsURL, src, p.Tokens[i])
			retried.Add(int64(tries - 1))
			if err != nil {
				if failed.Add(1) == 1 {
					firstErr.Store(err.Error())
				}
				return
			}
			devs[i] = &device{user: p.Users[i], conn: conn, r: r}
			go devs[i].read()
			if n := done.Add(1); n%10000 == 0 {
				progress(fmt.Sprintf("connected %d/%d", n, hi-lo))
			}
		}()
	}
	wg.Wait()
	if n := retried.Load(); n > 0 {
		progress(fmt.Sprintf("%d connects were refused (503) and retried, as a client would", n))
	}
	if n := failed.Load(); n > 0 {
		return devs, fmt.Errorf("%d of %d sockets failed to connect (first: %v)", n, hi-lo, firstErr.Load())
	}
	return devs, nil
}

// dialDevice opens one device's socket. A refused handshake (503: chatd could
// not reach Cassandra in time, as happens while 100,000 sockets connect at
// once) is retried after a growing pause, as a real client would; any other
// failure is final. It returns how many attempts it made.
func dialDevice(ctx context.Context, wsURL string, src *net.TCPAddr, token string) (*websocket.Conn, int, error) {
	d := websocket.Dialer{HandshakeTimeout: 60 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024,
		NetDialContext: (&net.Dialer{LocalAddr: src, Timeout: 60 * time.Second}).DialContext}
	const attempts = 5
	pause := 2 * time.Second
	for try := 1; ; try++ {
		conn, resp, err := d.DialContext(ctx, wsURL, http.Header{"Authorization": {"Bearer " + token}})
		if err == nil {
			return conn, try, nil
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || try == attempts {
			if resp != nil {
				err = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
			}
			return nil, try, err
		}
		select {
		case <-ctx.Done():
			return nil, try, ctx.Err()
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// read counts what the device receives. Frames are scanned, not decoded
// (scanFrame); an error frame, or one the scanner declines, is decoded.
// The read buffer is pooled: 100,000 idle sockets hold none.
func (d *device) read() {
	for {
		_, rd, err := d.conn.NextReader()
		if err != nil {
			return
		}
		buf, _ := d.r.readBuffers.Get().(*bytes.Buffer)
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		buf.Reset()
		_, err = buf.ReadFrom(rd)
		now := time.Now().UnixNano()
		if err == nil {
			d.handle(buf.Bytes(), now)
		}
		d.r.readBuffers.Put(buf)
		if err != nil {
			return
		}
	}
}

// handle counts one frame received at now. Nothing of raw is kept.
func (d *device) handle(raw []byte, now int64) {
	v, ok := scanFrame(raw)
	if !ok || string(v.typ) == "error" {
		var f decodedFrame
		if json.Unmarshal(raw, &f) != nil {
			return
		}
		if f.Type == "error" {
			if d.r.stats.errors.Add(1) == 1 {
				d.r.firstError.Store(f.Data.Code + ": " + string(f.Data.Message))
			}
			if v, ok := d.r.pending.LoadAndDelete(f.Ref); ok {
				s := v.(*inflight)
				s.code, s.retryAfterMs = f.Data.Code, f.Data.RetryAfterMs
				close(s.done)
			}
			return
		}
		v = f.view()
	}
	switch string(v.typ) {
	case "ack":
		p, ok := d.r.pending.LoadAndDelete(string(v.ref))
		if !ok {
			return
		}
		s := p.(*inflight)
		d.r.stats.ack(now - s.at)
		d.r.expectDelivery(string(v.msgID), d.r.audience[s.conv])
		close(s.done)
	case "message.new":
		if v.hasSent {
			d.r.stats.deliver(now - v.sentNs)
		}
		d.r.delivered(v.id, d.user)
	case "sync.required":
		d.r.stats.syncRequired.Add(1)
	}
}

// expectDelivery records that message id must reach n devices (every
// member's, the sender's own included).
func (r *run) expectDelivery(id string, n int) {
	r.mu.Lock()
	r.expect[id] = n
	r.mu.Unlock()
}

// delivered counts one copy of message id (bytes of a frame: copied only
// the first time the id is seen) on user's device.
func (r *run) delivered(id []byte, user int64) {
	r.mu.Lock()
	users := r.received[string(id)]
	if users == nil {
		users = map[int64]int{}
		r.received[string(id)] = users
	}
	users[user]++
	r.mu.Unlock()
}

// maxChars is chatd's default message length bound in characters.
const maxChars = 1000

// paddedBody is about size bytes: the send time (for send→delivered), then
// 4-byte characters, so a 4 KB body stays within the 1,000-character limit.
func paddedBody(sentNs int64, size int) string {
	body := strconv.FormatInt(sentNs, 10) + "|"
	if pad := size - len(body); pad >= 4 {
		body += strings.Repeat("😀", min(pad/4, maxChars-len(body)))
	}
	return body
}

// clientMsgID is a canonical UUIDv7 (RFC 9562), as the SDK sends: chatd can
// derive the message id from its time (issue 13), and a chatd that does not
// still takes it as an opaque idempotency key.
func clientMsgID() string { return uuid.Must(uuid.NewV7()).String() }

// send writes one message.send frame; the ack and the deliveries are timed
// by the readers. The returned channel closes on the ack or an error frame.
func (d *device) send(conv int64, seq int64, size int) (<-chan struct{}, error) {
	ref := strconv.FormatInt(seq, 10)
	now := time.Now().UnixNano()
	body := paddedBody(now, size)
	s := &inflight{at: now, conv: conv, done: make(chan struct{})}
	d.r.pending.Store(ref, s)
	d.wmu.Lock()
	defer d.wmu.Unlock()
	_ = d.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := d.conn.WriteJSON(map[string]any{"type": "message.send", "ref": ref, "data": map[string]any{
		"conversation_id": strconv.FormatInt(conv, 10), "client_msg_id": clientMsgID(), "body": body}})
	if err != nil {
		d.r.pending.Delete(ref)
		return nil, err
	}
	return s.done, nil
}
