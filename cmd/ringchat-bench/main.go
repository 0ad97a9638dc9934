// Command ringchat-bench drives a real chatd the way clients do and measures
// it against the budget in ARCHITECTURE.md. Workloads (-workload):
//
//   - reference: -users sockets, one each, sending -rate messages a second of
//     -size bytes into direct conversations and, for -group-share of them,
//     into the -groups groups; -rate 0 instead keeps -inflight sends
//     outstanding (chatd's ceiling). Measures send→ack and send→delivered on
//     every receiving device, lost and duplicated deliveries.
//   - surge: reference at -rate, then ten times -rate for -surge-for, then
//     -rate again.
//   - group1000: one 1,000-member group, every member connected.
//   - idle: -users idle sockets; chatd's memory per connection.
//   - history: 50-message pages over -history-messages stored messages.
//   - raw: the rows of a direct-message send written straight with CQL (the
//     project's repo code), claim LWT first, as fast as the node takes them.
//   - raw-plain: the same rows without the claim: the store's own ceiling.
//   - overload: the sends in flight that saturate one node, then four times
//     as many, clients honouring retry hints (overload.go).
//
// Users are seeded through the repo code once and reused (-cache). It samples
// chatd's and Cassandra's CPU and memory from /proc (-chatd-pid,
// -cassandra-pid) and writes JSON and Markdown into -out.
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
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/schema"
)

type options struct {
	workload, url, hosts, keyspace, out, cache, groups string
	chatdPIDs, worker, partial, cpuProfile             string
	users, size, cassPID, inflight, pushMax, procs     int
	rate, groupShare                                   float64
	duration, drain, surgeFor, settle, quiet           time.Duration
	history                                            historyOptions
	sync                                               syncOptions
}

func main() {
	var o options
	flag.StringVar(&o.workload, "workload", "reference", "reference, surge, group1000, idle, history, sync, overload, raw or raw-plain")
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "chatd's public URL; several, comma-separated, spread the users over nodes")
	flag.IntVar(&o.procs, "procs", 1, "processes holding the sockets (each holds at most its file limit)")
	flag.StringVar(&o.worker, "worker", "", "internal: run as the worker for users lo:hi")
	flag.StringVar(&o.partial, "partial", "", "internal: where a worker writes its share")
	flag.StringVar(&o.hosts, "cassandra-hosts", "127.0.0.1:9042", "for seeding users")
	flag.StringVar(&o.keyspace, "keyspace", "ringchat", "the keyspace chatd serves")
	flag.StringVar(&o.out, "out", "bench/results", "where results are written")
	flag.StringVar(&o.cache, "cache", "bench/tmp", "where the seeded population is kept for reuse (git-ignored)")
	flag.IntVar(&o.users, "users", 1000, "users, one socket each, paired into direct conversations")
	flag.StringVar(&o.groups, "groups", "200x10,50x50,10x200,2x1000", "groups as COUNTxSIZE,... laid over the users (\"\": none)")
	flag.Float64Var(&o.groupShare, "group-share", 0.1, "share of messages sent into groups")
	flag.IntVar(&o.pushMax, "push-max-members", 100, "chatd's --push-max-members, for seeding groups as chatd would")
	flag.IntVar(&o.size, "size", 4000, "message body bytes")
	flag.Float64Var(&o.rate, "rate", 50, "messages a second (0: closed loop with -inflight sends outstanding)")
	flag.IntVar(&o.inflight, "inflight", 64, "sends outstanding in closed-loop mode, and workers of raw and history")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "sending (or reading) time")
	flag.DurationVar(&o.surgeFor, "surge-for", 30*time.Second, "surge: time at ten times -rate")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after the connection storm before measuring (chatd writes routes and presence for each socket)")
	flag.DurationVar(&o.quiet, "quiet", 3*time.Minute, "before measuring, wait at most this long until Cassandra is idle (under a tenth of a core for 3 s), so compactions left by earlier runs are not billed to this one; 0: do not wait")
	flag.DurationVar(&o.drain, "drain", 5*time.Second, "after the last send, wait at most this long for answers and deliveries")
	flag.StringVar(&o.chatdPIDs, "chatd-pid", "", "chatd's pids, comma-separated, for CPU and memory (summed)")
	flag.IntVar(&o.cassPID, "cassandra-pid", 0, "Cassandra's pid (0: not sampled)")
	o.sync.flags()
	flag.IntVar(&o.history.messages, "history-messages", 10_000_000, "history: messages stored before reading")
	flag.IntVar(&o.history.convs, "history-convs", 1000, "history: conversations they are spread over")
	flag.IntVar(&o.history.bodyBytes, "history-size", 200, "history: stored message body bytes")
	flag.DurationVar(&o.history.span, "history-span", 30*24*time.Hour, "history: the messages' ids span this much past time")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write the generator's own CPU profile here (go tool pprof)")
	flag.Parse()
	os.Exit(mainExit(o))
}

// mainExit is main's body, so deferred work (the CPU profile) finishes before exit.
func mainExit(o options) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			log.Error("cpu profile", "err", err)
			return 1
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench(ctx, o, func(s string) { log.Info(s) })
	if err != nil {
		log.Error("bench failed", "err", err)
		return 1
	}
	if o.worker != "" {
		return 0 // a worker's share went to its -partial file
	}
	if err := write(o.out, res); err != nil {
		log.Error("write results", "err", err)
		return 1
	}
	fmt.Print(res.markdown())
	if res.Lost > 0 || res.Duplicates > 0 {
		return 3
	}
	return 0
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
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
	switch o.workload {
	case "reference", "surge", "idle", "history", "raw", "raw-plain", "sync", "overload":
	case "group1000":
		o.groups, o.groupShare = "1x1000", 1
	default:
		return Result{}, fmt.Errorf("-workload %q: want reference, surge, group1000, idle, history, sync, overload, raw or raw-plain", o.workload)
	}
	spec, err := parseGroups(o.groups)
	if err != nil {
		return Result{}, err
	}
	if o.users < 2 || o.users%2 != 0 {
		return Result{}, errors.New("-users must be an even number of at least 2")
	}
	if o.workload == "surge" && o.rate <= 0 {
		return Result{}, errors.New("surge needs a -rate above 0")
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
	pop, err := seed(ctx, store, o, spec, progress)
	if err != nil {
		return Result{}, err
	}
	if o.worker != "" {
		return Result{}, runWorker(ctx, o, pop, progress)
	}
	res := Result{Workload: o.workload, Command: strings.Join(os.Args, " "), Started: time.Now().UTC(), Users: o.users,
		Rate: o.rate, SizeBytes: o.size, Duration: o.duration.String(), Groups: o.groups, GroupShare: o.groupShare}
	if o.workload == "surge" {
		res.Duration = (2*o.surgeCalm() + o.surgeFor).String()
	}
	smp := sampler{o: o, res: &res}
	switch o.workload {
	case "raw", "raw-plain":
		smp.waitQuiet(progress)
		smp.sample()
		err := runRaw(ctx, store, pop, o, &res, progress)
		smp.sample()
		res.costs()
		return res, err
	case "sync":
		return res, runSync(ctx, pop, o, &res, smp, progress)
	case "overload":
		return res, runOverload(ctx, o, pop, &res, smp, progress)
	case "history":
		// runHistory waits for quiet itself, after seeding: 10 M writes leave
		// minutes of compaction that would land in the measurement.
		return res, runHistory(ctx, store, pop, o, &res, smp, progress)
	}
	// Sampled once the sockets are open (idle: before and once they settled)
	// and at the end.
	if o.workload == "idle" {
		smp.sample()
	}
	settle := func() {
		time.Sleep(o.settle) // chatd finishes registering routes and presence
		smp.waitQuiet(progress)
		smp.sample()
	}
	var parts []Partial
	if o.procs > 1 {
		parts, err = runWorkers(ctx, o, len(pop.Users), settle, progress)
	} else {
		var p Partial
		p, err = runSockets(ctx, o, pop, 0, len(pop.Users), settle, progress)
		parts = []Partial{p}
	}
	if o.workload != "idle" {
		smp.sample()
	}
	mergePartials(parts, &res)
	res.costs()
	if err != nil {
		return res, err
	}
	if o.workload == "idle" && len(res.Chatd) >= 2 {
		before, after := res.Chatd[0].RSSBytes, res.Chatd[len(res.Chatd)-1].RSSBytes
		res.Idle = &IdleFootprint{RSSBefore: before, RSSAfter: after, BytesPerConn: float64(after-before) / float64(res.Connections)}
	}
	return res, nil
}

// audience is how many devices get each conversation's messages: every
// member has one connected device.
func audience(p *Population) map[int64]int {
	a := make(map[int64]int, len(p.Convs)+len(p.Groups))
	for _, c := range p.Convs {
		a[c] = 2
	}
	for _, g := range p.Groups {
		a[g.ID] = len(g.Members)
	}
	return a
}

// sampler reads chatd's (summed over its pids) and Cassandra's /proc
// figures into the result.
type sampler struct {
	o   options
	res *Result
}

// surgeCalm is the surge workload's time at -rate before and after the surge:
// half of what -duration leaves beside -surge-for each, at least a second.
func (o options) surgeCalm() time.Duration { return max(o.duration-o.surgeFor, 2*time.Second) / 2 }

// urls is -url split at commas.
func (o options) urls() []string { return strings.Split(o.url, ",") }

// waitQuiet waits, at most -quiet, until Cassandra uses under a tenth of a
// core over 3 s. A run leaves flushes and compactions behind; on two shared
// cores they would otherwise land in whichever run comes next (a raw run's
// debt billed to the following chatd run, the benchmark's first source of
// noise between back-to-back runs).
func (s sampler) waitQuiet(progress func(string)) {
	if s.o.quiet <= 0 || s.o.cassPID <= 0 {
		return
	}
	const window, idle = 3 * time.Second, 0.1
	start := time.Now()
	for time.Since(start) < s.o.quiet {
		a, err := readProc(s.o.cassPID)
		time.Sleep(window)
		b, err2 := readProc(s.o.cassPID)
		if err != nil || err2 != nil {
			return
		}
		cores := (b.CPUSeconds - a.CPUSeconds) / window.Seconds()
		if cores < idle {
			s.res.QuietWait = time.Since(start).Round(time.Second).String()
			return
		}
		progress(fmt.Sprintf("waiting for Cassandra to go quiet: %.2f cores busy", cores))
	}
	s.res.QuietWait = "gave up after " + s.o.quiet.String()
}

func (s sampler) sample() {
	at := time.Now().UTC().Format(time.RFC3339)
	if s.o.chatdPIDs != "" {
		var sum Proc
		for _, f := range strings.Split(s.o.chatdPIDs, ",") {
			pid, _ := strconv.Atoi(strings.TrimSpace(f))
			if p, err := readProc(pid); err == nil {
				sum.CPUSeconds += p.CPUSeconds
				sum.RSSBytes += p.RSSBytes
			}
		}
		s.res.Chatd = append(s.res.Chatd, ProcSample{At: at, Proc: sum})
	}
	if s.o.cassPID > 0 {
		if p, err := readProc(s.o.cassPID); err == nil {
			s.res.Cassandra = append(s.res.Cassandra, ProcSample{At: at, Proc: p})
		}
	}
	// The generator shares the cores it measures: its own CPU says how much
	// of the machine was left for chatd and Cassandra.
	var gen Proc
	for _, pid := range generatorPIDs() {
		if p, err := readProc(pid); err == nil {
			gen.CPUSeconds += p.CPUSeconds
			gen.RSSBytes += p.RSSBytes
			if pid == os.Getpid() {
				gen.CPUSeconds += p.reapedCPU // workers that have exited
			}
		}
	}
	s.res.Generator = append(s.res.Generator, ProcSample{At: at, Proc: gen})
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
