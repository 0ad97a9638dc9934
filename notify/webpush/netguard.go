package webpush

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// ErrPrivateEndpoint is wrapped (inside a *notify.PermanentError) when a
// subscription's endpoint is, or resolves to, an address chatd must not call.
var ErrPrivateEndpoint = errors.New("webpush: endpoint on a loopback, private, link-local or unspecified address")

type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func defaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// blockedAddr says whether a is an address a client-supplied URL must not
// reach: chatd's own host and networks, and the cloud metadata service.
func blockedAddr(a netip.Addr) bool { return repo.NonPublicAddr(a) }

// resolve returns host's addresses, or host itself when it is a literal.
func resolve(ctx context.Context, lookup lookupFunc, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := lookup(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("webpush: resolve %s: %w", host, err)
	}
	return addrs, nil
}

// guardedDial resolves the host itself and dials only addresses that pass
// the check, so what is checked is what is connected to (a name cannot
// resolve to a public address for a check and a private one for the dial).
func guardedDial(inner dialFunc, lookup lookupFunc, blocked func(netip.Addr) bool) dialFunc {
	if inner == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		inner = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("webpush: dial %s: %w", addr, err)
		}
		addrs, err := resolve(ctx, lookup, host)
		if err != nil {
			return nil, err
		}
		var dialErr error
		for _, a := range addrs {
			if blocked(a) || (network == "tcp4" && !a.Unmap().Is4()) || (network == "tcp6" && !a.Is6()) {
				continue
			}
			c, err := inner(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			dialErr = errors.Join(dialErr, err)
			if ctx.Err() != nil {
				break
			}
		}
		if dialErr != nil {
			return nil, dialErr
		}
		return nil, fmt.Errorf("%s: %w", host, ErrPrivateEndpoint)
	}
}

func dialWithoutContext(dial func(network, addr string) (net.Conn, error)) dialFunc {
	return func(_ context.Context, network, addr string) (net.Conn, error) {
		return dial(network, addr)
	}
}
