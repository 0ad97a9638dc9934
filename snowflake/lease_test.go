package snowflake_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/internal/faultproxy"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/snowflake"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// logBuffer collects a lease's log lines; safe while the renewal goroutine writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// Environment of runLeaseHelper.
const (
	envKeyspace = "SNOWFLAKE_LEASE_HELPER_KEYSPACE"
	envStartAt  = "SNOWFLAKE_LEASE_HELPER_START_MS" // Unix ms to sleep until before claiming
	envFirstTry = "SNOWFLAKE_LEASE_HELPER_FIRST"    // id to try first
	envTTL      = "SNOWFLAKE_LEASE_HELPER_TTL"
	envRenew    = "SNOWFLAKE_LEASE_HELPER_RENEW"
)

// runLeaseHelper is the child process of the lease tests: they run the test
// binary again with envKeyspace set, and TestMain comes here instead of
// running tests. The child connects like chatd, waits for the start time,
// leases an id, prints "NODE <id> <owner>", renews until its stdin closes
// (or it is killed), and then exits without releasing, as a crashed process
// would. It never returns.
func runLeaseHelper(ks string) {
	fail := func(format string, args ...any) {
		fmt.Printf("ERR "+format+"\n", args...)
		os.Exit(2)
	}
	s, err := repo.Connect(cqltest.Config(ks))
	if err != nil {
		fail("connect: %v", err)
	}
	cfg := snowflake.LeaseConfig{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if v := os.Getenv(envTTL); v != "" {
		if cfg.TTL, err = time.ParseDuration(v); err != nil {
			fail("%s: %v", envTTL, err)
		}
	}
	if v := os.Getenv(envRenew); v != "" {
		if cfg.RenewEvery, err = time.ParseDuration(v); err != nil {
			fail("%s: %v", envRenew, err)
		}
	}
	if v := os.Getenv(envFirstTry); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fail("%s: %v", envFirstTry, err)
		}
		cfg = snowflake.FirstTry(cfg, id)
	}
	if v := os.Getenv(envStartAt); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fail("%s: %v", envStartAt, err)
		}
		time.Sleep(time.Until(time.UnixMilli(ms)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	l, err := snowflake.AcquireLease(ctx, s, cfg)
	if err != nil {
		fail("acquire: %v", err)
	}
	fmt.Printf("NODE %d %s %d\n", l.NodeID(), l.Owner(), began.UnixMicro())
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-eof:
	case <-l.Lost():
		fmt.Println("LOST")
	}
	os.Exit(0) // no Release, no Close: only the TTL frees the id
}

// helper is a running runLeaseHelper child.
type helper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, closed at EOF
	stderr *logBuffer
}

func startHelper(t *testing.T, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	h := &helper{cmd: cmd, lines: make(chan string, 16), stderr: &logBuffer{}}
	cmd.Stderr = h.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(h.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range h.lines { // drain, so the reader reaches EOF
		}
		<-read
		_ = cmd.Wait()
	})
	return h
}

// leased waits for the child's NODE line and returns its id and owner.
func (h *helper) leased(t *testing.T, timeout time.Duration) (int64, string) {
	t.Helper()
	id, owner, _ := h.leasedAt(t, timeout)
	return id, owner
}

// leasedAt is leased, plus the moment the child began to claim.
func (h *helper) leasedAt(t *testing.T, timeout time.Duration) (int64, string, time.Time) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				t.Fatalf("helper exited without a node id: %v\nstderr:\n%s", h.cmd.Wait(), h.stderr)
			}
			f := strings.Fields(line)
			if len(f) == 4 && f[0] == "NODE" {
				id, err1 := strconv.ParseInt(f[1], 10, 64)
				began, err2 := strconv.ParseInt(f[3], 10, 64)
				if err1 != nil || err2 != nil {
					t.Fatalf("bad line %q", line)
				}
				return id, f[2], time.UnixMicro(began)
			}
			if strings.HasPrefix(line, "ERR") {
				t.Fatalf("helper: %s\nstderr:\n%s", line, h.stderr)
			}
		case <-deadline:
			t.Fatalf("no node id from the helper within %s\nstderr:\n%s", timeout, h.stderr)
		}
	}
}

// clearIDs deletes the shared keyspace's rows of ids, now and when t ends
// (after its leases and helper processes are gone), so that tests sharing the
// keyspace, and repeated runs (-count), start from free ids.
func clearIDs(t *testing.T, s *gocql.Session, ids ...int64) {
	t.Helper()
	clear := func() error {
		return s.Query(`DELETE FROM snowflake_leases WHERE node_id IN ?`, ids).Exec()
	}
	if err := clear(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := clear(); err != nil {
			t.Error(err)
		}
	})
}

// forEveryID runs stmt with each node id 0..MaxNodeID, 16 at a time.
func forEveryID(ctx context.Context, s *gocql.Session, stmt string) error {
	ids := make(chan int64)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				if err := s.Query(stmt, id).WithContext(ctx).Exec(); err != nil {
					errs <- err
					for range ids { // let the sender finish
					}
					return
				}
			}
		}()
	}
	for id := range int64(snowflake.MaxNodeID + 1) {
		ids <- id
	}
	close(ids)
	wg.Wait()
	close(errs)
	return <-errs
}

// leaseRow reads a lease row; owner "" means there is none.
func leaseRow(t *testing.T, s *gocql.Session, id int64) (owner string) {
	t.Helper()
	err := s.Query(`SELECT owner FROM snowflake_leases WHERE node_id = ?`, id).Scan(&owner)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		t.Fatalf("read lease %d: %v", id, err)
	}
	return owner
}

func acquire(t *testing.T, ctx context.Context, s *gocql.Session, cfg snowflake.LeaseConfig) *snowflake.Lease {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	l, err := snowflake.AcquireLease(ctx, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Release(context.Background()) })
	return l
}

func isLost(l *snowflake.Lease) bool {
	select {
	case <-l.Lost():
		return true
	default:
		return false
	}
}

// Four real processes claim at the same instant and all try id 1021 first:
// the lightweight transactions must hand out 1021, 1022, 1023 and (wrapping
// around) 0, one each.
func TestConcurrentProcessesGetDistinctNodeIDs(t *testing.T) {
	t.Parallel()
	s, ks := sharedKeyspace(t)
	clearIDs(t, s, 1021, 1022, 1023, 0)
	const n, first = 4, snowflake.MaxNodeID - 2
	start := time.Now().Add(2500 * time.Millisecond) // time for the children to start and connect
	helpers := make([]*helper, n)
	for i := range helpers {
		helpers[i] = startHelper(t, envKeyspace+"="+ks, envFirstTry+"="+strconv.Itoa(first),
			envStartAt+"="+strconv.FormatInt(start.UnixMilli(), 10))
	}
	byID := map[int64]string{}
	var firstBegan, lastBegan time.Time
	for i, h := range helpers {
		id, owner, began := h.leasedAt(t, 20*time.Second)
		if firstBegan.IsZero() || began.Before(firstBegan) {
			firstBegan = began
		}
		if began.After(lastBegan) {
			lastBegan = began
		}
		if other, dup := byID[id]; dup {
			t.Fatalf("processes %q and %q (child %d) both hold node id %d", other, owner, i, id)
		}
		byID[id] = owner
	}
	t.Logf("the %d processes began claiming within %s of each other", n, lastBegan.Sub(firstBegan))
	ids := make([]int64, 0, n)
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if want := []int64{0, first, first + 1, first + 2}; !slices.Equal(ids, want) {
		t.Fatalf("processes got node ids %v, want %v", ids, want)
	}
	// What Cassandra holds agrees, while every child is alive and renewing.
	for id, owner := range byID {
		if got := leaseRow(t, s, id); got != owner {
			t.Fatalf("row of node id %d has owner %q, want %q", id, got, owner)
		}
	}
	for _, h := range helpers {
		_ = h.stdin.Close()
	}
}

// A lease whose holder dies (SIGKILL: no release) is gone after its TTL, and
// only then can another process take that id.
func TestUnrenewedLeaseExpiresAndIsTakenOver(t *testing.T) {
	t.Parallel()
	s, ks := sharedKeyspace(t)
	clearIDs(t, s, 7, 8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const id, ttl = 7, 2 * time.Second
	h := startHelper(t, envKeyspace+"="+ks, envFirstTry+"=7", envTTL+"="+ttl.String(), envRenew+"=500ms")
	got, owner := h.leased(t, 15*time.Second)
	if got != id {
		t.Fatalf("helper leased %d, want %d", got, id)
	}
	// While the holder lives, the id is not to be had.
	other := acquire(t, ctx, s, snowflake.FirstTry(snowflake.LeaseConfig{TTL: ttl}, id))
	if other.NodeID() == id {
		t.Fatalf("took node id %d from a live holder", id)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}

	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if got := leaseRow(t, s, id); got != owner {
		t.Fatalf("right after the kill the row's owner is %q, want %q", got, owner)
	}
	// It held a renewal at most 500 ms old, so the row lives between ~1.5 s and
	// TTLSeconds (3 s) more.
	limit := time.Duration(snowflake.TTLSeconds(ttl))*time.Second + time.Second
	for leaseRow(t, s, id) != "" {
		if time.Since(killed) > limit {
			t.Fatalf("the dead holder's lease is still there %s after the kill", time.Since(killed))
		}
		time.Sleep(50 * time.Millisecond)
	}
	gone := time.Since(killed)
	t.Logf("lease row expired %s after its holder was killed", gone.Round(time.Millisecond))
	if gone < ttl-600*time.Millisecond {
		t.Fatalf("lease row expired %s after the kill: sooner than the TTL %s allows", gone, ttl)
	}
	next := acquire(t, ctx, s, snowflake.FirstTry(snowflake.LeaseConfig{TTL: ttl}, id))
	if next.NodeID() != id {
		t.Fatalf("after expiry got node id %d, want the freed %d", next.NodeID(), id)
	}
}

// Renewal keeps the whole row alive well past the first TTL (owner included:
// the IF owner = ? condition depends on it) and keeps others off the id.
func TestRenewalKeepsLeasePastTTL(t *testing.T) {
	t.Parallel()
	s, _ := sharedKeyspace(t)
	clearIDs(t, s, 20, 21)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const id, ttl = 20, 2 * time.Second
	logs := &logBuffer{}
	l := acquire(t, ctx, s, snowflake.FirstTry(snowflake.LeaseConfig{TTL: ttl, RenewEvery: 400 * time.Millisecond, Logger: logs.logger()}, id))
	if l.NodeID() != id {
		t.Fatalf("got node id %d, want %d", l.NodeID(), id)
	}
	time.Sleep(time.Duration(snowflake.TTLSeconds(ttl))*time.Second + 1500*time.Millisecond) // past the claim's own TTL
	if isLost(l) {
		t.Fatalf("lease lost while renewing normally:\n%s", logs)
	}
	var owner string
	var ownerTTL, atTTL int
	if err := s.Query(`SELECT owner, TTL(owner), TTL(leased_at) FROM snowflake_leases WHERE node_id = ?`, id).
		Scan(&owner, &ownerTTL, &atTTL); err != nil {
		t.Fatal(err)
	}
	if owner != l.Owner() || ownerTTL <= 0 || atTTL <= 0 || ownerTTL > snowflake.TTLSeconds(ttl) {
		t.Fatalf("row: owner %q (want %q), TTL(owner) %d, TTL(leased_at) %d", owner, l.Owner(), ownerTTL, atTTL)
	}
	other := acquire(t, ctx, s, snowflake.FirstTry(snowflake.LeaseConfig{TTL: ttl}, id))
	if other.NodeID() == id {
		t.Fatalf("took node id %d from a holder that renews", id)
	}
	if isLost(l) {
		t.Fatal("lease lost")
	}
}

// A holder that finds its id taken by someone else, or its row gone, reports
// Lost; its Release then leaves the new holder's row alone.
func TestLeaseTakenOverIsLost(t *testing.T) {
	t.Parallel()
	s, _ := sharedKeyspace(t)
	clearIDs(t, s, 40, 41, 50)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := snowflake.LeaseConfig{TTL: 3 * time.Second, RenewEvery: 300 * time.Millisecond}

	t.Run("held by another owner", func(t *testing.T) {
		logs := &logBuffer{}
		c := cfg
		c.Logger = logs.logger()
		victim := acquire(t, ctx, s, snowflake.FirstTry(c, 40))
		// The row disappears (as if it had expired) and another process claims the id.
		if err := s.Query(`DELETE FROM snowflake_leases WHERE node_id = 40`).Exec(); err != nil {
			t.Fatal(err)
		}
		thief := acquire(t, ctx, s, snowflake.FirstTry(cfg, 40))
		if thief.NodeID() != 40 {
			t.Fatalf("the second process got %d, want the freed 40", thief.NodeID())
		}
		select {
		case <-victim.Lost():
		case <-time.After(2 * time.Second):
			t.Fatal("the holder did not notice that another process holds its id")
		}
		if !strings.Contains(logs.String(), "held by another owner") || !strings.Contains(logs.String(), thief.Owner()) {
			t.Fatalf("loss not logged with the new holder:\n%s", logs)
		}
		if err := victim.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if got := leaseRow(t, s, 40); got != thief.Owner() {
			t.Fatalf("after the old holder's Release the row's owner is %q, want %q", got, thief.Owner())
		}
		time.Sleep(2 * cfg.RenewEvery)
		if isLost(thief) {
			t.Fatal("the new holder lost its lease")
		}
	})

	t.Run("row gone", func(t *testing.T) {
		logs := &logBuffer{}
		c := cfg
		c.Logger = logs.logger()
		l := acquire(t, ctx, s, snowflake.FirstTry(c, 50))
		if err := s.Query(`DELETE FROM snowflake_leases WHERE node_id = ?`, l.NodeID()).Exec(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-l.Lost():
		case <-time.After(2 * time.Second):
			t.Fatal("the holder did not notice its row is gone")
		}
		if !strings.Contains(logs.String(), "expired or was deleted") {
			t.Fatalf("loss not logged:\n%s", logs)
		}
	})
}

// Release deletes the row: the id is free at once, not after the TTL.
func TestReleaseFreesIDAtOnce(t *testing.T) {
	t.Parallel()
	s, _ := sharedKeyspace(t)
	clearIDs(t, s, 60, 61)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := snowflake.FirstTry(snowflake.LeaseConfig{TTL: 30 * time.Second, Logger: quiet}, 60)
	a, err := snowflake.AcquireLease(ctx, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.NodeID() != 60 {
		t.Fatalf("got %d, want 60", a.NodeID())
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := leaseRow(t, s, 60); got != "" {
		t.Fatalf("released lease still held by %q", got)
	}
	b := acquire(t, ctx, s, cfg)
	if b.NodeID() != 60 {
		t.Fatalf("after Release got %d, want the freed 60", b.NodeID())
	}
	if err := a.Release(ctx); err != nil { // twice is fine, and leaves b alone
		t.Fatal(err)
	}
	if got := leaseRow(t, s, 60); got != b.Owner() {
		t.Fatalf("a second Release touched the new holder's row: owner %q", got)
	}
	if isLost(a) {
		t.Fatal("Release closed Lost")
	}
}

// With all 1024 ids held, AcquireLease gives up with ErrAllLeased (which is
// ErrUnavailable); and it never outlives its context.
//
// Not parallel: it needs the whole table of the shared keyspace, and runs
// before the parallel tests start; it leaves the table empty.
func TestAcquireUnavailable(t *testing.T) {
	s, _ := sharedKeyspace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := forEveryID(ctx, s, `DELETE FROM snowflake_leases WHERE node_id = ?`); err != nil {
			t.Error(err)
		}
	})
	if err := forEveryID(ctx, s, `INSERT INTO snowflake_leases (node_id, owner, leased_at) VALUES (?, 'other', toTimestamp(now())) USING TTL 120`); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	_, err := snowflake.AcquireLease(ctx, s, snowflake.LeaseConfig{Logger: quiet})
	if !errors.Is(err, snowflake.ErrAllLeased) || !errors.Is(err, snowflake.ErrUnavailable) {
		t.Fatalf("with every id held: %v, want ErrAllLeased", err)
	}
	t.Logf("tried all %d ids in %s: %v", snowflake.MaxNodeID+1, time.Since(began).Round(time.Millisecond), err)

	// Free one id: a lease from a random start finds it, wrapping around if need be.
	free := rand.Int64N(snowflake.MaxNodeID + 1)
	if err := s.Query(`DELETE FROM snowflake_leases WHERE node_id = ?`, free).Exec(); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	l := acquire(t, ctx, s, snowflake.LeaseConfig{})
	if l.NodeID() != free {
		t.Fatalf("the only free id is %d, got %d", free, l.NodeID())
	}
	t.Logf("found the free id %d in %s", free, time.Since(began).Round(time.Millisecond))

	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	began = time.Now()
	_, err = snowflake.AcquireLease(short, s, snowflake.LeaseConfig{Logger: quiet})
	if !errors.Is(err, snowflake.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with a 100 ms context: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("AcquireLease took %s with a 100 ms context", took)
	}
}

// Through a real TCP proxy the node stops answering: the holder reports Lost
// before its TTL could have run out, AcquireLease fails with ErrUnavailable
// when its context ends, and leasing works again once the node is back.
func TestLeaseThroughOutage(t *testing.T) {
	t.Parallel()
	shared, ks := sharedKeyspace(t)
	clearIDs(t, shared, 100, 101, 102)
	s, proxy := cqltest.ProxiedSession(t, ks, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const ttl, renew = 3 * time.Second, 300 * time.Millisecond
	logs := &logBuffer{}
	l, err := snowflake.AcquireLease(ctx, s, snowflake.FirstTry(snowflake.LeaseConfig{TTL: ttl, RenewEvery: renew, Logger: logs.logger()}, 100))
	if err != nil {
		t.Fatal(err)
	}
	g, err := snowflake.NewLeasedGenerator(l)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * renew)
	proxy.SetMode(faultproxy.Hang)
	hung := time.Now()
	select {
	case <-l.Lost():
	case <-time.After(ttl + time.Second):
		t.Fatalf("lease not lost %s into the outage:\n%s", time.Since(hung), logs)
	}
	lostAfter := time.Since(hung)
	t.Logf("lease lost %s into the outage", lostAfter.Round(time.Millisecond))
	// The generator refuses by then already: it reads the renewal deadline
	// itself rather than wait for the renewal goroutine to give up.
	if _, err := g.TryNext(); !errors.Is(err, snowflake.ErrLeaseLost) {
		t.Fatalf("a generator on a lease lost in an outage: %v, want ErrLeaseLost", err)
	}
	// The last good renewal was at most `renew` before the hang; the holder gives
	// up renew/2 before its TTL runs out, and never later than the TTL.
	if lostAfter < ttl-renew-renew/2-200*time.Millisecond || lostAfter > ttl {
		t.Fatalf("lease lost %s into the outage; want between TTL-RenewEvery*1.5 and TTL (%s)", lostAfter, ttl)
	}
	if !strings.Contains(logs.String(), "renewal failed") || !strings.Contains(logs.String(), "TTL nearly ran out") {
		t.Fatalf("retries and loss not logged:\n%s", logs)
	}

	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	began := time.Now()
	_, err = snowflake.AcquireLease(short, s, snowflake.FirstTry(snowflake.LeaseConfig{Logger: quiet}, 100))
	if !errors.Is(err, snowflake.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire during the outage: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("acquire during the outage took %s with a 1 s context", took)
	}

	proxy.SetMode(faultproxy.Forward)
	if err := l.Release(ctx); err != nil && !errors.Is(err, snowflake.ErrUnavailable) {
		t.Fatalf("release after the outage: %v", err)
	}
	var again *snowflake.Lease
	for again == nil {
		again, err = snowflake.AcquireLease(ctx, s, snowflake.FirstTry(snowflake.LeaseConfig{Logger: quiet}, 100))
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("no lease after the node came back: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := again.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseConfigChecked(t *testing.T) {
	if _, err := snowflake.AcquireLease(context.Background(), nil, snowflake.LeaseConfig{}); err == nil {
		t.Fatal("nil session accepted")
	}
	_, err := snowflake.AcquireLease(context.Background(), nil, snowflake.LeaseConfig{TTL: time.Second, RenewEvery: time.Second})
	if err == nil || !strings.Contains(err.Error(), "RenewEvery") {
		t.Fatalf("RenewEvery >= TTL: %v, want it refused", err)
	}
	if got := snowflake.TTLSeconds(2500 * time.Millisecond); got != 4 {
		t.Fatalf("a 2.5 s lease is written with TTL %d, want 4 (rounded up, plus a second)", got)
	}
	if got := snowflake.TTLSeconds(30 * time.Second); got != 31 {
		t.Fatalf("a 30 s lease is written with TTL %d, want 31", got)
	}
}

// A leased generator makes no id once its lease is lost (the node used to
// keep making ids through its shutdown, while the next holder of the id
// could make the same ones), nor after Release.
func TestLeasedGeneratorStopsWithTheLease(t *testing.T) {
	t.Parallel()
	s, _ := sharedKeyspace(t)
	clearIDs(t, s, 70, 71) // ids of its own: the parallel tests share the keyspace
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := snowflake.LeaseConfig{TTL: 3 * time.Second, RenewEvery: 300 * time.Millisecond, Logger: quiet}

	l := acquire(t, ctx, s, snowflake.FirstTry(cfg, 70))
	g, err := snowflake.NewLeasedGenerator(l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.TryNext(); err != nil {
		t.Fatalf("with the lease held: %v", err)
	}
	if err := s.Query(`UPDATE snowflake_leases SET owner = 'thief' WHERE node_id = ?`, l.NodeID()).Exec(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the lease was never lost")
	}
	if _, err := g.TryNext(); !errors.Is(err, snowflake.ErrLeaseLost) || !errors.Is(err, snowflake.ErrUnavailable) {
		t.Fatalf("after the loss TryNext: %v, want ErrLeaseLost (an ErrUnavailable)", err)
	}
	func() {
		defer func() {
			if p, _ := recover().(error); !errors.Is(p, snowflake.ErrLeaseLost) {
				t.Fatalf("after the loss Next panicked with %v, want ErrLeaseLost", p)
			}
		}()
		id := g.Next()
		t.Fatalf("after the loss Next made %d", id)
	}()

	released := acquire(t, ctx, s, snowflake.FirstTry(cfg, 71))
	g2, err := snowflake.NewLeasedGenerator(released)
	if err != nil {
		t.Fatal(err)
	}
	if err := released.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g2.TryNext(); !errors.Is(err, snowflake.ErrLeaseLost) {
		t.Fatalf("after Release TryNext: %v, want ErrLeaseLost", err)
	}
}
