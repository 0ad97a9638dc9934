// Command ringchat-bench drives a real chatd the way clients do: it seeds
// users (through the project's repo code), opens one WebSocket per user,
// sends at a set rate and size, and measures send→ack and send→delivered on
// every receiving device, lost and duplicated deliveries, and chatd's and
// Cassandra's CPU and memory from /proc. Results go to bench/results as JSON
// and Markdown.
//
//	ringchat-bench -workload reference -users 2000 -rate 100 -duration 30s
//	ringchat-bench -workload idle -users 10000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/schema"
)

type options struct {
	workload, url, hosts, keyspace, out, cache string
	users, size, chatdPID, cassPID             int
	rate                                       float64
	duration, drain                            time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.workload, "workload", "reference", "reference (one-to-one at -rate) or idle (memory per connection)")
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "chatd's public URL")
	flag.StringVar(&o.hosts, "cassandra-hosts", "127.0.0.1:9042", "for seeding users")
	flag.StringVar(&o.keyspace, "keyspace", "ringchat", "the keyspace chatd serves")
	flag.StringVar(&o.out, "out", "bench/results", "where results are written")
	flag.StringVar(&o.cache, "cache", "bench/tmp", "where the seeded population is kept for reuse (git-ignored)")
	flag.IntVar(&o.users, "users", 1000, "users, one socket each, paired into direct conversations")
	flag.IntVar(&o.size, "size", 4000, "message body bytes")
	flag.Float64Var(&o.rate, "rate", 50, "messages a second")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "sending time")
	flag.DurationVar(&o.drain, "drain", 5*time.Second, "wait for deliveries after the last send")
	flag.IntVar(&o.chatdPID, "chatd-pid", 0, "chatd's pid, for CPU and memory (0: not sampled)")
	flag.IntVar(&o.cassPID, "cassandra-pid", 0, "Cassandra's pid (0: not sampled)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench(ctx, o, func(s string) { log.Info(s) })
	if err != nil {
		log.Error("bench failed", "err", err)
		os.Exit(1)
	}
	if err := write(o.out, res); err != nil {
		log.Error("write results", "err", err)
		os.Exit(1)
	}
	fmt.Print(res.markdown())
	if res.Lost > 0 || res.Duplicates > 0 {
		os.Exit(3)
	}
}

// raiseFileLimit lets one process hold as many sockets as the machine allows.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func bench(ctx context.Context, o options, progress func(string)) (Result, error) {
	if o.workload != "reference" && o.workload != "idle" {
		return Result{}, fmt.Errorf("workload %q: reference and idle exist so far (surge, group1000, history, raw are still to build)", o.workload)
	}
	if o.users < 2 || o.users%2 != 0 {
		return Result{}, errors.New("-users must be an even number of at least 2")
	}
	raiseFileLimit()
	cfg := repo.DefaultCassandraConfig()
	cfg.Hosts, cfg.Keyspace, cfg.Timeout = strings.Split(o.hosts, ","), o.keyspace, 10*time.Second
	session, err := repo.Connect(cfg)
	if err != nil {
		return Result{}, err
	}
	defer session.Close()
	settings, err := schema.LoadSettings(ctx, session)
	if err != nil {
		return Result{}, err
	}
	store := repo.NewStore(session, repo.Layout{MessageBucket: settings.MessageBucket, InboxBucket: settings.InboxBucket}, repo.DefaultRetention())
	pop, err := seed(ctx, store, o.keyspace, o.users, o.cache, progress)
	if err != nil {
		return Result{}, err
	}
	res := Result{Workload: o.workload, Command: strings.Join(os.Args, " "), Started: time.Now().UTC(), Users: o.users,
		Rate: o.rate, SizeBytes: o.size, Duration: o.duration.String()}
	r := &run{stats: newStats(), expect: map[string]int{}, received: map[string]map[int64]int{}}
	sample := func() {
		for _, p := range []struct {
			pid int
			dst *[]ProcSample
		}{{o.chatdPID, &res.Chatd}, {o.cassPID, &res.Cassandra}} {
			if p.pid > 0 {
				if s, err := readProc(p.pid); err == nil {
					*p.dst = append(*p.dst, ProcSample{At: time.Now().UTC().Format(time.RFC3339), Proc: s})
				}
			}
		}
	}
	sample()
	devs, err := dial(ctx, o.url, pop, r, progress)
	for _, d := range devs {
		if d != nil {
			res.Connections++
			defer d.conn.Close()
		}
	}
	if err != nil {
		return res, err
	}
	progress(fmt.Sprintf("%d sockets open", res.Connections))
	if o.workload == "idle" {
		time.Sleep(5 * time.Second) // let chatd settle after the connection storm
		sample()
		if len(res.Chatd) >= 2 {
			before, after := res.Chatd[0].RSSBytes, res.Chatd[len(res.Chatd)-1].RSSBytes
			res.Idle = &IdleFootprint{RSSBefore: before, RSSAfter: after, BytesPerConn: float64(after-before) / float64(res.Connections)}
		}
		return res, nil
	}
	start := time.Now()
	res.Sent = drive(ctx, devs, pop, o.rate, o.duration, o.size, progress)
	sendTime := time.Since(start)
	time.Sleep(o.drain)
	sample()
	r.tally(&res)
	res.Throughput = float64(res.Acked) / sendTime.Seconds()
	return res, nil
}

// tally counts acknowledged messages, deliveries, losses and repeats.
func (r *run) tally(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.Acked = int64(len(r.expect))
	for id, want := range r.expect {
		res.Expected += int64(want)
		got := r.received[id]
		res.Lost += int64(max(0, want-len(got)))
		for _, n := range got {
			res.Delivered += int64(n)
			res.Duplicates += int64(n - 1)
		}
	}
	res.Errors = r.stats.errors.Load()
	if e, ok := r.firstError.Load().(string); ok {
		res.FirstError = e
	}
	res.SyncRequired = r.stats.syncRequired.Load()
	res.Ack = summarize(r.stats.ackHist)
	res.Delivery = summarize(r.stats.deliverHist)
}

func write(dir string, res Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%s", res.Started.Format("20060102T150405Z"), res.Workload)
	raw, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, name+".json"), raw, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), []byte(res.markdown()), 0o644)
}
