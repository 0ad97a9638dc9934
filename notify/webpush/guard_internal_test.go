package webpush

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/webpush/webpushtest"
)

func TestBlockedAddr(t *testing.T) {
	for addr, blocked := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "10.0.0.1": true, "172.31.255.255": true,
		"192.168.0.1": true, "169.254.169.254": true, "fe80::1": true, "fc00::1": true, "0.0.0.0": true,
		"0.1.2.3": true, "::": true, "100.64.0.1": true, "100.127.255.255": true, "224.0.0.1": true,
		"ff02::1": true, "255.255.255.255": true, "::ffff:10.0.0.1": true, "64:ff9b::7f00:1": true,
		"8.8.8.8": false, "172.32.0.1": false, "100.128.0.1": false, "2001:4860:4860::8888": false,
		"64:ff9b::808:808": false, "142.250.74.106": false,
	} {
		if got := blockedAddr(netip.MustParseAddr(addr)); got != blocked {
			t.Errorf("blockedAddr(%s) = %v, want %v", addr, got, blocked)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0":                             0,
		"120":                           2 * time.Minute,
		" 5 ":                           5 * time.Second,
		"86401":                         MaxRetryAfter,
		"Fri, 02 Jan 2026 03:05:05 GMT": time.Minute,
		"Fri, 02 Jan 2026 03:00:00 GMT": 0, // in the past
	} {
		if got, ok := parseRetryAfter(v, now); !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %s, %v, want %s", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-5", "1.5", "soon"} {
		if _, ok := parseRetryAfter(v, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", v)
		}
	}
}

// senderWith builds a Sender whose lookups go to a fake resolver, so that a
// name can resolve to the test server's loopback address.
func senderWith(t *testing.T, client *http.Client, hosts map[string][]netip.Addr) *Sender {
	t.Helper()
	pub, priv, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := hosts[host]; ok {
			return a, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	s, err := newSender(Config{VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subject: "mailto:ops@ringchat.test", HTTPClient: client}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDialGuard: a name that passes the pre-check but resolves to loopback is
// refused by the dialer, before any connection.
func TestDialGuard(t *testing.T) {
	srv := webpushtest.New(t)
	loopback := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	s := senderWith(t, srv.Client(), map[string][]netip.Addr{"push.example": loopback})
	if s.preResolve {
		t.Fatal("the test server's transport should be guardable")
	}
	sub := srv.NewSubscription()
	tgt := sub.Target()
	tgt.Endpoint = strings.Replace(sub.Endpoint, "127.0.0.1", "push.example", 1)
	err := s.Send(t.Context(), tgt, notify.Notification{ID: "n"})
	var pe *notify.PermanentError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPrivateEndpoint) {
		t.Fatalf("err = %v, want PermanentError wrapping ErrPrivateEndpoint", err)
	}
	if len(srv.Pushes())+len(srv.Rejections()) != 0 {
		t.Fatal("the request reached the server")
	}
}

// TestDialGuardDialsAllowed: the guard dials the allowed addresses of a name,
// through the transport's own dialer, skipping the blocked ones.
func TestDialGuardDialsAllowed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	lookup := func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")}, nil
	}
	var dialed []string
	inner := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	tenBlocked := func(a netip.Addr) bool { return a.As4()[0] == 10 }
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, err := guardedDial(inner, lookup, tenBlocked)(t.Context(), "tcp", net.JoinHostPort("push.example", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(dialed) != 1 || dialed[0] != "127.0.0.1:"+port {
		t.Fatalf("dialed %v, want only 127.0.0.1:%s", dialed, port)
	}
}

// TestPreResolveWithProxy: behind a proxy the dialer cannot be guarded, so
// the name is resolved and checked before the request.
func TestPreResolveWithProxy(t *testing.T) {
	srv := webpushtest.New(t)
	proxied := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) {
		t.Error("the proxy was consulted")
		return nil, nil
	}}}
	s := senderWith(t, proxied, map[string][]netip.Addr{
		"push.example": {netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("192.168.1.10")},
	})
	if !s.preResolve {
		t.Fatal("a proxied transport cannot be guarded")
	}
	sub := srv.NewSubscription()
	tgt := sub.Target()
	tgt.Endpoint = "https://push.example/push/" + sub.ID
	if err := s.Send(t.Context(), tgt, notify.Notification{ID: "n"}); !errors.Is(err, ErrPrivateEndpoint) {
		t.Fatalf("err = %v, want ErrPrivateEndpoint", err)
	}
	tgt.Endpoint = "https://unknown.example/push/" + sub.ID
	if err := s.Send(t.Context(), tgt, notify.Notification{ID: "n"}); err == nil || errors.As(err, new(*notify.PermanentError)) {
		t.Fatalf("DNS failure: err = %v, want a transient error", err)
	}
}
