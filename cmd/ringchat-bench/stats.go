package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Stats are a run's measurements. Latencies in microseconds, 1 µs to 60 s.
type Stats struct {
	mu           sync.Mutex
	ackHist      *hdrhistogram.Histogram
	deliverHist  *hdrhistogram.Histogram
	errors       atomic.Int64
	syncRequired atomic.Int64
}

func newStats() *Stats {
	return &Stats{ackHist: hdrhistogram.New(1, 60_000_000, 3), deliverHist: hdrhistogram.New(1, 60_000_000, 3)}
}

func (s *Stats) ack(ns int64) {
	s.mu.Lock()
	_ = s.ackHist.RecordValue(max(ns/1000, 1))
	s.mu.Unlock()
}

func (s *Stats) deliver(ns int64) {
	s.mu.Lock()
	_ = s.deliverHist.RecordValue(max(ns/1000, 1))
	s.mu.Unlock()
}

// Latency is one histogram's summary, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
}

// Proc is a process's CPU and memory, read from /proc.
type Proc struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	RSSBytes   int64   `json:"rss_bytes"`
	// reapedCPU is the CPU of children already waited for (cutime+cstime):
	// once a worker exits its time moves here from its own /proc entry.
	reapedCPU float64
}

// readProc samples /proc/<pid>/stat (utime+stime) and /proc/<pid>/status (VmRSS).
func readProc(pid int) (Proc, error) {
	p := Proc{PID: pid}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
	if len(fields) > 12 {
		ut, _ := strconv.ParseFloat(fields[11], 64)
		st, _ := strconv.ParseFloat(fields[12], 64)
		p.CPUSeconds = (ut + st) / 100 // USER_HZ
	}
	if len(fields) > 14 {
		cut, _ := strconv.ParseFloat(fields[13], 64)
		cst, _ := strconv.ParseFloat(fields[14], 64)
		p.reapedCPU = (cut + cst) / 100
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			p.RSSBytes = kb * 1024
		}
	}
	return p, nil
}

// generatorPIDs is this process and its children (the -procs workers).
func generatorPIDs() []int {
	self := os.Getpid()
	pids := []int{self}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The parent's pid is the second field after the parenthesised name.
		fields := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(self) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Result is what a run writes to bench/results.
type Result struct {
	Workload     string         `json:"workload"`
	Command      string         `json:"command"`
	Started      time.Time      `json:"started"`
	Users        int            `json:"users"`
	Connections  int            `json:"connections"`
	Rate         float64        `json:"rate_per_s"`
	SizeBytes    int            `json:"size_bytes"`
	Duration     string         `json:"duration"`
	Sent         int64          `json:"sent"`
	Acked        int64          `json:"acked"`
	Unanswered   int            `json:"unanswered"`
	Throughput   float64        `json:"acked_per_s"`
	Expected     int64          `json:"deliveries_expected"`
	Delivered    int64          `json:"deliveries"`
	Lost         int64          `json:"lost"`
	Duplicates   int64          `json:"duplicates"`
	Errors       int64          `json:"errors"`
	FirstError   string         `json:"first_error,omitempty"`
	SyncRequired int64          `json:"sync_required"`
	Ack          Latency        `json:"send_to_ack"`
	Delivery     Latency        `json:"send_to_delivered"`
	Chatd        []ProcSample   `json:"chatd,omitempty"`
	Cassandra    []ProcSample   `json:"cassandra,omitempty"`
	Generator    []ProcSample   `json:"generator,omitempty"` // this process and its -procs workers
	Idle         *IdleFootprint `json:"idle,omitempty"`
	Groups       string         `json:"groups,omitempty"`
	GroupShare   float64        `json:"group_share,omitempty"`
	Raw          *RawCeiling    `json:"raw,omitempty"`
	History      *HistoryTable  `json:"history,omitempty"`
	Overload     *OverloadRun   `json:"overload,omitempty"`
	StorePage    *Latency       `json:"store_page,omitempty"` // history: the page query alone
	QuietWait    string         `json:"quiet_wait,omitempty"` // how long Cassandra took to go idle before measuring
	CPU          *CPUCost       `json:"cpu_per_message,omitempty"`
}

// CPUCost is each process's CPU over the measured stretch divided by the
// acknowledged messages (raw: written), in milliseconds; the generator's
// also per delivered frame, in microseconds.
type CPUCost struct {
	ChatdMs             float64 `json:"chatd_ms"`
	CassandraMs         float64 `json:"cassandra_ms"`
	GeneratorMs         float64 `json:"generator_ms"`
	GeneratorPerFrameUs float64 `json:"generator_us_per_delivery,omitempty"`
}

// costs fills r.CPU from the first and last samples.
func (r *Result) costs() {
	if r.Acked <= 0 {
		return
	}
	spent := func(s []ProcSample) float64 {
		if len(s) < 2 {
			return 0
		}
		return s[len(s)-1].CPUSeconds - s[0].CPUSeconds
	}
	per := func(s []ProcSample) float64 { return spent(s) * 1000 / float64(r.Acked) }
	r.CPU = &CPUCost{ChatdMs: per(r.Chatd), CassandraMs: per(r.Cassandra), GeneratorMs: per(r.Generator)}
	if r.Delivered > 0 {
		r.CPU.GeneratorPerFrameUs = spent(r.Generator) * 1e6 / float64(r.Delivered)
	}
}

// RawCeiling is the raw workloads' answer: the node's write ceiling for the
// rows of a direct message (with or without the claim). Result.Ack times one message's writes.
type RawCeiling struct {
	Workers          int     `json:"workers"`
	Claim            bool    `json:"claim"` // raw: behind the claim LWT; raw-plain: without`
	WritesPerMessage int     `json:"writes_per_message"`
	WritesPerSecond  float64 `json:"writes_per_s"`
}

// HistoryTable describes the table the history workload read; Result.Ack
// times each page, Result.Sent counts them.
type HistoryTable struct {
	Messages      int    `json:"messages"`
	Conversations int    `json:"conversations"`
	BodyBytes     int    `json:"body_bytes"`
	Span          string `json:"span"`
}

// ProcSample is a process reading at a moment of the run.
type ProcSample struct {
	At string `json:"at"`
	Proc
}

// IdleFootprint is the idle workload's answer: chatd memory per connection.
type IdleFootprint struct {
	RSSBefore    int64   `json:"rss_before_bytes"`
	RSSAfter     int64   `json:"rss_after_bytes"`
	BytesPerConn float64 `json:"bytes_per_connection"`
}

func (r Result) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s, %s\n\n`%s`\n\n", r.Workload, r.Started.Format(time.RFC3339), r.Command)
	switch {
	case r.Overload != nil:
		r.Overload.markdown(&b, r)
	case r.History != nil:
		fmt.Fprintf(&b, "%d messages of %d B over %d conversations spanning %s; %d pages of 50 read, %.0f pages/s, %d errors\n\n",
			r.History.Messages, r.History.BodyBytes, r.History.Conversations, r.History.Span, r.Sent, r.Throughput, r.Errors)
		latencyTable(&b, "history page over REST", r.Ack)
		if r.StorePage != nil {
			latencyTable(&b, "the page query alone (repo)", *r.StorePage)
		}
	case r.Raw != nil:
		fmt.Fprintf(&b, "%d workers: %d messages, **%.0f messages/s** (%.0f writes/s), %d errors\n\n",
			r.Raw.Workers, r.Acked, r.Throughput, r.Raw.WritesPerSecond, r.Errors)
		latencyTable(&b, "one message's writes", r.Ack)
	default:
		fmt.Fprintf(&b, "| users | sockets | groups | group share | rate | size | duration | sent | acked/s | lost | duplicates | errors | sync.required |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(&b, "| %d | %d | %s | %.2f | %.0f/s | %d B | %s | %d | %.1f | %d | %d | %d | %d |\n\n", r.Users, r.Connections, r.Groups,
			r.GroupShare, r.Rate, r.SizeBytes, r.Duration, r.Sent, r.Throughput, r.Lost, r.Duplicates, r.Errors, r.SyncRequired)
		if r.Idle == nil {
			latencyTable(&b, "send→ack", r.Ack)
			latencyTable(&b, "send→delivered", r.Delivery)
		}
	}
	if r.FirstError != "" {
		fmt.Fprintf(&b, "\nfirst error: %s\n", r.FirstError)
	}
	if r.QuietWait != "" {
		fmt.Fprintf(&b, "\nwaited %s for Cassandra to go idle before measuring\n", r.QuietWait)
	}
	if r.Idle != nil {
		fmt.Fprintf(&b, "chatd RSS %d → %d bytes: **%.0f bytes per idle connection**\n", r.Idle.RSSBefore, r.Idle.RSSAfter, r.Idle.BytesPerConn)
	}
	if r.CPU != nil {
		fmt.Fprintf(&b, "\nCPU per message: chatd %.3f ms, cassandra %.3f ms, generator %.3f ms", r.CPU.ChatdMs, r.CPU.CassandraMs, r.CPU.GeneratorMs)
		if r.CPU.GeneratorPerFrameUs > 0 {
			fmt.Fprintf(&b, " (%.1f µs per delivered frame)", r.CPU.GeneratorPerFrameUs)
		}
		b.WriteString("\n")
	}
	for _, p := range []struct {
		name string
		s    []ProcSample
	}{{"chatd", r.Chatd}, {"cassandra", r.Cassandra}, {"generator", r.Generator}} {
		if len(p.s) > 1 {
			first, last := p.s[0], p.s[len(p.s)-1]
			fmt.Fprintf(&b, "\n%s: %.1f CPU seconds over the run, RSS %d MiB at the end\n", p.name, last.CPUSeconds-first.CPUSeconds, last.RSSBytes>>20)
		}
	}
	return b.String()
}

func latencyTable(b *strings.Builder, name string, l Latency) {
	fmt.Fprintf(b, "| %s (ms) | count | P50 | P90 | P99 | P99.9 | max |\n|---|---|---|---|---|---|---|\n", name)
	fmt.Fprintf(b, "| | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n\n", l.Count, l.P50, l.P90, l.P99, l.P999, l.Max)
}
