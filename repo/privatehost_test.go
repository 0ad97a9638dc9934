package repo

import (
	"net/netip"
	"testing"
)

func TestNonPublicAddr(t *testing.T) {
	for a, want := range map[string]bool{
		"127.0.0.1": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true, "169.254.169.254": true,
		"100.64.0.1": true, "0.1.2.3": true, "192.0.0.8": true, "198.18.0.1": true, "255.255.255.255": true, "224.0.0.1": true,
		"::1": true, "fe80::1": true, "fc00::1": true, "fec0::1": true, "::ffff:10.0.0.1": true, "::a00:1": true,
		"64:ff9b::a00:1": true, "64:ff9b:1::1": true, "2002:a00:1::1": true,
		"8.8.8.8": false, "2606:4700::1111": false, "64:ff9b::808:808": false, "2002:808:808::1": false,
	} {
		if got := NonPublicAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("%s: %v, want %v", a, got, want)
		}
	}
	for h, want := range map[string]bool{"": true, "localhost": true, "LOCALHOST.": true, "a.localhost": true,
		"[::1]": true, "example.com": false, "8.8.8.8": false} {
		if got := PrivateHost(h); got != want {
			t.Errorf("host %q: %v, want %v", h, got, want)
		}
	}
}
