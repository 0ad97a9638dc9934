package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// One process may hold only as many sockets as its file limit allows (20,000
// on the machine the README's figures come from), so -procs splits the users
// over child processes: copies of this binary run with -worker lo:hi. Each
// opens its sockets, says "ready" on stdout, starts when it reads a line on
// stdin, and writes its Partial as JSON to the -partial file.

// runWorkers runs the socket workload over procs child processes. settle
// runs once every child is ready, just before they start.
func runWorkers(ctx context.Context, o options, users int, settle func(), progress func(string)) ([]Partial, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ringchat-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	type child struct {
		cmd     *exec.Cmd
		stdin   io.WriteCloser
		ready   chan error
		partial string
	}
	kids := make([]*child, o.procs)
	per := (users + o.procs - 1) / o.procs
	for k := range kids {
		lo, hi := k*per, min(users, (k+1)*per)
		c := &child{partial: filepath.Join(dir, fmt.Sprintf("part-%d.json", k)), ready: make(chan error, 1)}
		args := append(append([]string(nil), os.Args[1:]...), "-procs", "1",
			"-worker", fmt.Sprintf("%d:%d", lo, hi), "-partial", c.partial)
		c.cmd = exec.CommandContext(ctx, exe, args...)
		c.cmd.Stderr = os.Stderr
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		out, err := c.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := c.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start worker %d: %w", k, err)
		}
		defer func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() }()
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			if err == nil && line != "ready\n" {
				err = fmt.Errorf("worker said %q", line)
			}
			c.ready <- err
			_, _ = io.Copy(io.Discard, out)
		}()
		kids[k] = c
	}
	for k, c := range kids {
		select {
		case err := <-c.ready:
			if err != nil {
				return nil, fmt.Errorf("worker %d never got ready: %w", k, err)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	progress(fmt.Sprintf("%d workers ready", len(kids)))
	settle()
	for _, c := range kids {
		_, _ = io.WriteString(c.stdin, "go\n")
	}
	parts := make([]Partial, len(kids))
	for k, c := range kids {
		if err := c.cmd.Wait(); err != nil {
			return nil, fmt.Errorf("worker %d: %w", k, err)
		}
		raw, err := os.ReadFile(c.partial)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &parts[k]); err != nil {
			return nil, fmt.Errorf("worker %d's result: %w", k, err)
		}
	}
	return parts, nil
}

// runWorker is the child side: users [lo, hi) of the cached population.
func runWorker(ctx context.Context, o options, pop *Population, progress func(string)) error {
	los, his, _ := strings.Cut(o.worker, ":")
	lo, err1 := strconv.Atoi(los)
	hi, err2 := strconv.Atoi(his)
	if err1 != nil || err2 != nil || lo < 0 || hi > len(pop.Users) || lo >= hi {
		return fmt.Errorf("-worker %q: want lo:hi within the %d users", o.worker, len(pop.Users))
	}
	part, err := runSockets(ctx, o, pop, lo, hi, func() {
		fmt.Println("ready")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	}, progress)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(part)
	if err != nil {
		return err
	}
	return os.WriteFile(o.partial, raw, 0o600)
}
