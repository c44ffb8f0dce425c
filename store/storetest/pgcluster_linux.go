package storetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Cluster is a PostgreSQL cluster of one test's own (scripts/pgtest.sh),
// which the test may freeze: the shared test cluster must never be
// stopped, or every other package's PostgreSQL tests would hang with it.
type Cluster struct {
	// URL is the cluster's test database.
	URL     string
	dataDir string
}

// PrivatePostgres starts a throwaway cluster for t and removes it when the
// test ends. It runs where the PostgreSQL suite runs (DOLBOM_TEST_DATABASE_URL
// set, or DOLBOM_REQUIRE_POSTGRES=1) and is skipped otherwise.
func PrivatePostgres(t testing.TB) *Cluster {
	t.Helper()
	if os.Getenv(EnvDatabaseURL) == "" && os.Getenv(EnvRequirePostgres) != "1" {
		t.Skipf("PostgreSQL tests skipped: set %s (scripts/pgtest.sh start prints it)", EnvDatabaseURL)
	}
	script, err := pgtestScript()
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "pgtest.state")
	run := func(arg string) (string, error) {
		cmd := exec.Command(script, arg)
		cmd.Env = append(os.Environ(), "DOLBOM_PGTEST_STATE="+state, "DOLBOM_PGTEST_OPTS=")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("scripts/pgtest.sh %s: %v\n%s", arg, err, errOut.String())
		}
		return out.String(), nil
	}
	out, err := run("start")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{}
	t.Cleanup(func() {
		c.Continue(t) // never leave a frozen server behind
		if _, err := run("stop"); err != nil {
			t.Errorf("stop private cluster: %v", err)
		}
	})
	url, ok := strings.CutPrefix(strings.TrimSpace(out), EnvDatabaseURL+"=")
	if !ok {
		t.Fatalf("scripts/pgtest.sh start printed %q", out)
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	dir, _, _ := strings.Cut(string(b), "\n")
	c.URL, c.dataDir = url, filepath.Join(dir, "data")
	return c
}

// Stop freezes the server as a hung machine would: SIGSTOP to the
// postmaster, then to every process it started (backends, writers), so
// that connections stay open and nothing answers.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	pm := c.postmaster(t)
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP postmaster %d: %v", pm, err)
	}
	for _, pid := range children(pm) {
		_ = syscall.Kill(pid, syscall.SIGSTOP) // a backend may just have exited
	}
}

// Continue lets a stopped server run again (SIGCONT).
func (c *Cluster) Continue(t testing.TB) {
	t.Helper()
	if c.dataDir == "" {
		return
	}
	pm := c.postmaster(t)
	for _, pid := range children(pm) {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	if err := syscall.Kill(pm, syscall.SIGCONT); err != nil {
		t.Errorf("SIGCONT postmaster %d: %v", pm, err)
	}
}

func (c *Cluster) postmaster(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatalf("postmaster pid: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("postmaster pid %q: %v", first, err)
	}
	return pid
}

// children lists the processes whose parent is pid (from /proc).
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// pgtestScript finds scripts/pgtest.sh above the working directory.
func pgtestScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "pgtest.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("scripts/pgtest.sh not found above the working directory")
		}
		dir = parent
	}
}
