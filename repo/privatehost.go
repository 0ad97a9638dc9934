package repo

import (
	"net/netip"
	"strings"
)

// PrivateHost reports whether host is a literal address (or localhost) that
// is not on the public internet (NonPublicAddr), or empty. A name that
// resolves to such an address is caught when it is dialled (the push
// senders' dialers); this refuses what can be told without DNS.
func PrivateHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" || h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(h, "[]"))
	if err != nil {
		return false
	}
	return NonPublicAddr(addr)
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated)
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
}

// NonPublicAddr is the one rule every client-supplied URL chatd calls is
// held to (webhooks, Web Push endpoints): loopback, private, link-local,
// multicast, unspecified and reserved addresses, and IPv6 forms that carry
// such an IPv4 address (NAT64, 6to4, IPv4-mapped).
func NonPublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return true
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(a): // NAT64 of the embedded IPv4
			return NonPublicAddr(netip.AddrFrom4([4]byte(b[12:])))
		case netip.MustParsePrefix("2002::/16").Contains(a): // 6to4 of the embedded IPv4
			return NonPublicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return false
}
