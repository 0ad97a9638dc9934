package repo_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// sentKeyClaim tells whether the send-id key's lightweight transaction went
// through sn.
func sentKeyClaim(sn *sniffer) bool {
	for stmt := range sn.lwts() {
		if strings.HasPrefix(stmt, "INSERT INTO send_id_key") {
			return true
		}
	}
	return false
}

// Absent, the key is created by one lightweight transaction and every racer
// gets the one that won; present, a start only reads it: no LWT, which a
// SELECT-only grant refuses and which needs a SERIAL quorum across data
// centres (a restart in a surviving DC would fail while another is down).
func TestSendIDKeyIsReadThenClaimedOnlyWhenAbsent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	forget := func() {
		if err := raw.Query(`DELETE FROM send_id_key WHERE name = 'v1'`).WithContext(ctx).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	forget()
	keys := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := store.SendIDKey(ctx)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) || len(k) != repo.SendIDKeyBytes {
			t.Fatalf("racing starts got different keys: %x vs %x", k, keys[0])
		}
	}
	forget()
	claimer := startSniffer(t)
	claimStore, _ := sniffedStore(t, claimer, "LOCAL_SERIAL")
	if keys[0], err = claimStore.SendIDKey(ctx); err != nil {
		t.Fatal(err)
	}
	if !sentKeyClaim(claimer) {
		t.Fatal("an absent key was not claimed with a lightweight transaction")
	}
	reader := startSniffer(t)
	readStore, _ := sniffedStore(t, reader, "LOCAL_SERIAL")
	var k []byte
	k, err = readStore.SendIDKey(ctx)
	if err != nil || !bytes.Equal(k, keys[0]) {
		t.Fatalf("a start with the key present: %x, %v; want %x", k, err, keys[0])
	}
	if sentKeyClaim(reader) {
		t.Fatal("a start with the key present ran the lightweight transaction")
	}
}
