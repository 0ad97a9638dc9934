package api

import (
	"net"
	"net/http"
	"strings"
)

// clientAddr is the auth limits' key for the request's client: its IPv4
// address, or its IPv6 /64 (one subscriber usually holds a whole /64); the
// TCP peer unless ipHeader names a header a trusted proxy sets.
func clientAddr(r *http.Request, ipHeader string) string {
	raw := r.RemoteAddr
	if ipHeader != "" {
		if h := r.Header.Get(ipHeader); h != "" {
			raw = strings.TrimSpace(h[strings.LastIndexByte(h, ',')+1:])
		}
	}
	host := raw
	if h, _, err := net.SplitHostPort(raw); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String()
}
