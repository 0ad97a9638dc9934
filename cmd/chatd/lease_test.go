package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/api/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

// chatd's id source: while the lease holds, requests make ids; once it cannot
// be trusted, a request that needs one is answered 503 unavailable (the
// client retries on another node) instead of writing an id the next holder of
// the node id may make too.
func TestRequestsNeedingAnIDOnceTheLeaseIsGoneGet503(t *testing.T) {
	session, _ := cqltest.NewKeyspace(t, schema.DefaultSettings())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease, err := snowflake.AcquireLease(ctx, session, snowflake.LeaseConfig{TTL: 3 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := snowflake.NewLeasedGenerator(lease)
	if err != nil {
		t.Fatal(err)
	}
	store := repo.NewStore(session, repo.Layout{MessageBucket: time.Hour, InboxBucket: time.Hour}, repo.DefaultRetention())
	srv := api.New(api.DefaultConfig(), api.Deps{Store: store, IDs: leasedIDs{gen}, Hub: ws.NewHub(ws.Config{}, log), Log: log})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	register := func(handle string) (int, string) {
		res, err := http.Post(hs.URL+"/v1/auth/register", "application/json",
			strings.NewReader(`{"handle":"`+handle+`","password":"correct horse"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := register("lease_held"); st != 201 {
		t.Fatalf("register with the lease held: %d %s", st, body)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if st, body := register("lease_gone"); st != 503 || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("register once the lease is gone: %d %s, want 503 unavailable", st, body)
	}
}
