// Package faultproxy is a TCP proxy for tests that need a real backend to stop
// answering, or to answer late: it forwards to a target until told to hang or
// to refuse, adding latency when told to.
package faultproxy

import (
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does with traffic.
type Mode int

const (
	Forward Mode = iota // pass bytes both ways
	Hang                // keep connections open, pass nothing (a node that stopped answering)
	Refuse              // close every connection and refuse new ones (a dead port)
)

// Proxy forwards a local listener to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  Mode
	delay time.Duration // latency each way, for bytes read from now on
	conns map[net.Conn]struct{}
	wake  chan struct{} // closed when leaving Hang
	done  chan struct{} // closed by Close: cuts delays short
	once  sync.Once
	wg    sync.WaitGroup
}

// Start listens on 127.0.0.1 (a random port) and forwards to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, wake: make(chan struct{}), done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's listening port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// SetMode switches behaviour; Refuse also drops every open connection.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == Hang && m != Hang {
		close(p.wake)
		p.wake = make(chan struct{})
	}
	p.mode = m
	if m == Refuse {
		for c := range p.conns {
			c.Close()
		}
	}
}

// SetDelay makes every byte read from now on reach the other side d later,
// each way: a slow network or a far node, which widens the windows between
// one request's statements.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Close stops the proxy and drops every connection; again, it does nothing.
func (p *Proxy) Close() {
	p.once.Do(func() {
		p.ln.Close()
		close(p.done)
		p.SetMode(Refuse) // also wakes pipes held by Hang
	})
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.mode == Refuse
		if !refuse {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.forget(c)
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.forget(up)
	// Both directions end before the connection is forgotten, and Close
	// waits for them (p.wg): one ending closes both connections, which ends
	// the other.
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pipe(up, c); up.Close(); c.Close() }()
	go func() { defer both.Done(); p.pipe(c, up); up.Close(); c.Close() }()
	both.Wait()
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// chunk is bytes read and when they may be written.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each read held back by the delay in force when it
// was read, and while the proxy hangs. Reading and writing are separate so a
// delay adds latency, not a limit on throughput: the reader queues what it
// read (copied, so memory follows the bytes in flight) and the writer
// releases each when due. A read error other than EOF closes dst once what
// was read before it is written.
func (p *Proxy) pipe(dst, src net.Conn) {
	chunks := make(chan chunk, 4096)
	var readErr error
	go func() {
		defer close(chunks)
		buf := make([]byte, 32*1024)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				due := time.Now().Add(p.delay)
				p.mu.Unlock()
				select {
				case chunks <- chunk{append([]byte(nil), buf[:n]...), due}:
				case <-p.done:
					return
				}
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	defer func() {
		src.Close() // ends the reader if the writer stopped first
		for range chunks {
		}
		if readErr != nil && readErr != io.EOF {
			dst.Close()
		}
	}()
	for c := range chunks {
		if wait := time.Until(c.due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-p.done:
				return
			}
		}
		for {
			p.mu.Lock()
			mode, wake := p.mode, p.wake
			p.mu.Unlock()
			if mode != Hang {
				break
			}
			select {
			case <-wake:
			case <-p.done:
				return
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
}
