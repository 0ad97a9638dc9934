package faultproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// echo is a TCP server that writes back what it reads, until ln closes.
func echo(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln
}

// A delay holds every byte back each way, keeps them whole and in order
// however many small writes fall within one delay, and Close ends every
// goroutine at once, even with bytes still held back.
func TestDelayAndClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln := echo(t)
	defer ln.Close()
	p, err := Start(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.SetDelay(100 * time.Millisecond)
	var sent bytes.Buffer
	start := time.Now()
	for i := range 2000 { // many more reads than one chunk queue's worth of 64
		b := []byte{byte(i), byte(i >> 8)}
		sent.Write(b)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, sent.Len())
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("a round trip through a 100 ms delay each way took %s", took)
	}
	if !bytes.Equal(got, sent.Bytes()) {
		t.Fatal("the bytes came back changed or out of order")
	}
	p.SetDelay(3 * time.Second)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the write reaches the proxy and is held
	closed := time.Now()
	p.Close()
	p.Close() // a second Close (a test's cleanup after its own) is harmless
	if took := time.Since(closed); took > time.Second {
		t.Errorf("Close took %s with bytes held back for 3 s", took)
	}
}
