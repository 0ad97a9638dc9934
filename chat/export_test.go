package chat

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// At most ExportConcurrency exports run at once on a node: one more is
// refused (unavailable) while they run, and admitted once one ends.
func TestExportConcurrencyIsBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExportConcurrency = 2
	gen := newTestApp(t)
	a := New(cfg, Deps{Store: gen.store, IDs: gen.ids, Delivery: &pushed{}})
	now := time.Now().UTC()
	id, err := gen.ids.TryNext()
	if err != nil {
		t.Fatal(err)
	}
	u := repo.User{ID: id, Handle: "exportcap" + strconv.FormatInt(id%1000000, 10), CreatedAt: now, UpdatedAt: now}
	if err := a.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	me := repo.Session{UserID: u.ID}
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := a.Export(context.Background(), me, ExportPosition{}, func(ExportLine) error {
				started <- struct{}{}
				<-release // a slow reader holds its slot
				return nil
			})
			done <- err
		}()
	}
	<-started
	<-started
	_, err = a.Export(context.Background(), me, ExportPosition{}, func(ExportLine) error { return nil })
	if !repo.IsCode(err, repo.CodeUnavailable) {
		t.Fatalf("a third export while two run: %v, want unavailable", err)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	next, err := a.Export(context.Background(), me, ExportPosition{}, func(ExportLine) error { return nil })
	if err != nil || next.Phase != ExportDone {
		t.Fatalf("an export once they ended: %+v %v", next, err)
	}
}
