// Command cqlping waits until a Cassandra node answers a CQL query: the
// readiness check of the local stack (the CQL port opens last).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gocql/gocql"
)

func main() {
	host := flag.String("host", "127.0.0.1:9042", "node to ask")
	timeout := flag.Duration("timeout", 3*time.Minute, "give up after this long")
	flag.Parse()
	deadline := time.Now().Add(*timeout)
	var last error
	for {
		if v, err := ping(*host); err == nil {
			fmt.Println("cassandra", v, "answering on", *host)
			return
		} else {
			last = err
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "cqlping: %s not answering after %s: %v\n", *host, *timeout, last)
			os.Exit(1)
		}
		time.Sleep(time.Second)
	}
}

func ping(host string) (string, error) {
	c := gocql.NewCluster(host)
	c.ConnectTimeout = 2 * time.Second
	c.Timeout = 2 * time.Second
	s, err := c.CreateSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var v string
	err = s.Query(`SELECT release_version FROM system.local`).Scan(&v)
	return v, err
}
