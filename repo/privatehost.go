package repo

import (
	"net/netip"
	"strings"
)

// PrivateHost reports whether host is a literal address (or localhost) that
// is loopback, private, link-local, unspecified or otherwise not on the
// public internet. A name that resolves to one is caught when it is dialled
// (notify's dialers); this refuses what can be told without DNS.
func PrivateHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(h, "[]"))
	if err != nil {
		return false
	}
	return NonPublicAddr(addr)
}

// NonPublicAddr is the address rule of PrivateHost.
func NonPublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(a) || // carrier-grade NAT
		netip.MustParsePrefix("192.0.0.0/24").Contains(a) ||
		netip.MustParsePrefix("198.18.0.0/15").Contains(a) ||
		netip.MustParsePrefix("0.0.0.0/8").Contains(a) ||
		netip.MustParsePrefix("240.0.0.0/4").Contains(a) ||
		netip.MustParsePrefix("64:ff9b::/96").Contains(a) // NAT64 of any IPv4 address, private ones too
}
