// Command healthcheck is the container image's HEALTHCHECK: it asks chatd's
// admin listener for /healthz and exits 0 on a 200, 1 otherwise. The image's
// base (distroless static) has no shell, curl or wget, and chatd itself has
// no probe mode, so this is the smallest static probe: the standard library
// only. It finds the port the way chatd does, from RINGCHAT_ADMIN_LISTEN
// (default 127.0.0.1:9090), and always dials loopback: the probe runs inside
// chatd's own network namespace whatever address the listener binds.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := os.Getenv("RINGCHAT_ADMIN_LISTEN")
	if addr == "" {
		addr = "127.0.0.1:9090"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck: RINGCHAT_ADMIN_LISTEN:", err)
		os.Exit(1)
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: /healthz answered", resp.Status)
		os.Exit(1)
	}
}
