package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// undoStack holds what the cluster harness must undo, run last in first
// out: a process started after PostgreSQL is stopped before it. Each step
// is registered the moment its resource exists, so that an error (or
// Ctrl-C) half-way through the start undoes exactly what was done.
type undoStack struct {
	mu    sync.Mutex
	steps []undoStep
	log   io.Writer
}

type undoStep struct {
	name string
	fn   func() error
}

func (u *undoStack) push(name string, fn func() error) {
	u.mu.Lock()
	u.steps = append(u.steps, undoStep{name, fn})
	u.mu.Unlock()
}

// run undoes everything, newest first, and reports each failure.
func (u *undoStack) run() {
	u.mu.Lock()
	steps := u.steps
	u.steps = nil
	u.mu.Unlock()
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].fn(); err != nil {
			fmt.Fprintf(u.log, "cluster: cleanup %s: %v\n", steps[i].name, err)
		}
	}
}

// proc is a process the harness started; signals go to its pid only.
type proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // Wait's result, once done is closed
	stopped bool  // SIGSTOPped by the harness (the pause)
	mu      sync.Mutex
	in      io.WriteCloser // the child's stdin, for a simulator
}

// tell writes one line to the child's stdin.
func (p *proc) tell(line string) error {
	if p.in == nil {
		return fmt.Errorf("%s takes no orders", p.name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := io.WriteString(p.in, line+"\n")
	return err
}

// startProc starts bin with its output in logPath and registers its end.
// The child gets SIGKILL if the harness dies without cleaning up (Linux
// parent-death signal), so a kill -9 of the harness leaves no gateway
// running either.
func startProc(undo *undoStack, name, logPath string, env []string, stdout io.Writer, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var logf *os.File
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		logf = f
		cmd.Stderr = f
		cmd.Stdout = f
	}
	var in io.WriteCloser
	if stdout != nil {
		// A child the harness talks to (a simulator): its report lines
		// come on stdout, the harness's orders go to its stdin.
		cmd.Stdout = stdout
		pipe, err := cmd.StdinPipe()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		in = pipe
	}
	// Its own process group: a Ctrl-C at the terminal reaches the harness
	// alone, which then ends its processes in order (the simulators before
	// HAProxy before the gateways).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), in: in}
	go func() {
		p.err = cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		close(p.done)
	}()
	undo.push(name, p.stop)
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to this process unless it has exited (its pid may then
// belong to another process).
func (p *proc) signal(sig syscall.Signal) error {
	if p.exited() {
		return fmt.Errorf("%s has exited: %v", p.name, p.err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch sig {
	case syscall.SIGSTOP:
		p.stopped = true
	case syscall.SIGCONT:
		p.stopped = false
	}
	return syscall.Kill(p.pid(), sig)
}

// stop ends the process: SIGTERM (after SIGCONT if paused), then SIGKILL
// after 15 s. A gateway drains within its --shutdown-timeout.
func (p *proc) stop() error {
	if p.exited() {
		return nil
	}
	p.mu.Lock()
	if p.stopped {
		syscall.Kill(p.pid(), syscall.SIGCONT)
		p.stopped = false
	}
	p.mu.Unlock()
	syscall.Kill(p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(15 * time.Second):
	}
	syscall.Kill(p.pid(), syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("did not stop within 15 s of SIGTERM: killed")
}

// freeAddr returns host:port with a port free on host, below the
// ephemeral range (a port there can become any outgoing connection's
// source before the process binds it).
func freeAddr(host string) (string, error) {
	for i := range 200 {
		port := 20000 + (os.Getpid()*7919+i*104729+int(time.Now().UnixNano()%9973))%12000
		addr := net.JoinHostPort(host, fmt.Sprint(port))
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free port on %s", host)
}

// waitHTTP polls url until it answers 200, p exits, or the wait ends.
func waitHTTP(ctx context.Context, p *proc, url string, wait time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(wait)
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited while starting: %v (see its log)", p.name, p.err)
		}
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s within %s", nameOf(p), url, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func nameOf(p *proc) string {
	if p == nil {
		return "server"
	}
	return p.name
}

// lookBin finds a program: the flag's value when it has a slash, else PATH,
// else next to this executable (a build directory holding all of them),
// else in /usr/sbin (Debian's haproxy).
func lookBin(flagName, v string) (string, error) {
	if strings.Contains(v, "/") {
		if _, err := os.Stat(v); err != nil {
			return "", fmt.Errorf("--%s %s: %w", flagName, v, err)
		}
		return v, nil
	}
	if p, err := exec.LookPath(v); err == nil {
		return p, nil
	}
	cands := []string{"/usr/sbin/" + v}
	if self, err := os.Executable(); err == nil {
		cands = append([]string{filepath.Join(filepath.Dir(self), v)}, cands...)
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("--%s: %q not found in PATH, next to dolbom-sim or in /usr/sbin: build it (go build ./cmd/...) or give its path", flagName, v)
}

// startPostgres starts a throwaway PostgreSQL with scripts/pgtest.sh and
// registers its stop (which deletes its files). The script is found from
// the working directory up, as in a checkout.
func startPostgres(ctx context.Context, undo *undoStack, script, dir string, stderr io.Writer) (string, error) {
	if script == "" {
		wd, _ := os.Getwd()
		for d := wd; ; d = filepath.Dir(d) {
			c := filepath.Join(d, "scripts", "pgtest.sh")
			if _, err := os.Stat(c); err == nil {
				script = c
				break
			}
			if filepath.Dir(d) == d {
				return "", errors.New("no --database-url, and scripts/pgtest.sh not found above the working directory: give --pgtest or --database-url")
			}
		}
	}
	env := append(os.Environ(), "DOLBOM_PGTEST_STATE="+filepath.Join(dir, "pgtest.state"))
	cmd := exec.CommandContext(ctx, script, "start")
	cmd.Env, cmd.Stderr = env, stderr
	out, err := cmd.Output()
	// Registered even on failure: the script may have left a started server.
	undo.push("postgres", func() error {
		stop := exec.Command(script, "stop")
		stop.Env, stop.Stderr = env, stderr
		return stop.Run()
	})
	if err != nil {
		return "", fmt.Errorf("start PostgreSQL (%s start): %w", script, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(l), "DOLBOM_TEST_DATABASE_URL="); ok {
			return u, nil
		}
	}
	return "", fmt.Errorf("%s start printed no DOLBOM_TEST_DATABASE_URL: %q", script, out)
}
