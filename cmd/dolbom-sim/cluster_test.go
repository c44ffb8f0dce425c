package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

var updateDeploy = flag.Bool("update-deploy", false, "TestDeployHAProxyIsTheTemplate: rewrite deploy/haproxy.cfg from the template")

const deployHAProxyPath = "../../deploy/haproxy.cfg"

// needTool finds a program a test needs, or skips (fails under
// DOLBOM_REQUIRE_TOOLS=1, as make test sets: scripts/ensure-tools.sh
// installs it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := lookBin(name, name)
	if err == nil {
		return p
	}
	if os.Getenv("DOLBOM_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s not found (make test installs it with scripts/ensure-tools.sh)", name)
	}
	t.Skipf("%s not found: apt-get install %s (make test does)", name, name)
	return ""
}

// TestDeployHAProxyIsTheTemplate: deploy/haproxy.cfg is what the harness's
// template writes with the deployment's values, so the cluster figures
// measure the configuration operators run.
func TestDeployHAProxyIsTheTemplate(t *testing.T) {
	want, err := deployHAProxy().render()
	if err != nil {
		t.Fatal(err)
	}
	if *updateDeploy {
		if err := os.WriteFile(deployHAProxyPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(deployHAProxyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the template (cmd/dolbom-sim/cluster_haproxy.go): run go test ./cmd/dolbom-sim -run TestDeployHAProxyIsTheTemplate -update-deploy", deployHAProxyPath)
	}
}

// TestHAProxyConfigValid: Debian's HAProxy accepts deploy/haproxy.cfg and a
// configuration as the harness writes it, health check and session
// shutdown included.
func TestHAProxyConfigValid(t *testing.T) {
	haproxy := needTool(t, "haproxy")
	harness := haproxyConfig{
		MaxConn: 8000, StatsSock: filepath.Join(t.TempDir(), "h.sock"), MQTTBind: "127.0.1.1:1883", HTTPBind: "127.0.1.1:8080",
		Source: "127.0.2.1", ServerConn: 19000,
		Servers: []haproxyServer{{Name: "n1", Host: "127.0.0.2", MQTTPort: 1883, HTTPPort: 8080}, {Name: "n2", Host: "127.0.0.3", MQTTPort: 1883, HTTPPort: 8080}},
	}
	cfg, err := harness.render()
	if err != nil {
		t.Fatal(err)
	}
	generated := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(generated, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{deployHAProxyPath, generated} {
		out, err := exec.Command(haproxy, "-c", "-f", file).CombinedOutput()
		if err != nil {
			t.Errorf("haproxy -c -f %s: %v\n%s", file, err, out)
		}
	}
	for _, must := range []string{"on-marked-down shutdown-sessions", "uri /readyz", "balance leastconn", "source 127.0.2.1"} {
		if !bytes.Contains(cfg, []byte(must)) {
			t.Errorf("generated configuration lacks %q", must)
		}
	}
	// A bad value is refused with its name, before haproxy sees it.
	if _, err := (haproxyConfig{MaxConn: 1, ServerConn: 1}).render(); err == nil || !strings.Contains(err.Error(), "no gateways") {
		t.Errorf("render without servers: %v", err)
	}
}

func TestClusterOptionsRefuseBadInput(t *testing.T) {
	ok := clusterOptions{nodes: 3, homes: 300, duration: time.Minute, killAt: 15 * time.Second, pauseAt: 35 * time.Second,
		pauseFor: 8 * time.Second, perHAProxy: 7500, connectRate: 500, maxHubs: 19000, hubsPerAddress: 50}
	if err := ok.validate(); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
	stop := ok
	stop.killAt, stop.stopAt, stop.restartKilled = 0, 15*time.Second, 10*time.Second
	if err := stop.validate(); err != nil {
		t.Fatalf("a graceful stop of node 2, restarted later, refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*clusterOptions)
		want string
	}{
		{"too many homes", func(o *clusterOptions) { o.homes = 30001 }, "--homes 30001"},
		{"kill needs node 2", func(o *clusterOptions) { o.nodes = 1; o.pauseAt = 0 }, "--kill-at kills node 2"},
		{"pause needs node 3", func(o *clusterOptions) { o.nodes = 2 }, "--pause-at pauses node 3"},
		{"kill after the end", func(o *clusterOptions) { o.killAt = 2 * time.Minute }, "is not within --duration"},
		{"pause past the end", func(o *clusterOptions) { o.pauseFor = time.Minute }, "ends after --duration"},
		{"haproxy descriptors", func(o *clusterOptions) { o.perHAProxy = 10000 }, "--per-haproxy 10000"},
		{"no hub per address", func(o *clusterOptions) { o.hubsPerAddress = 0 }, "--hubs-per-address 0"},
		{"restart without a kill", func(o *clusterOptions) { o.killAt = 0; o.restartKilled = time.Second }, "--restart-killed 1s: needs --kill-at"},
		{"restart after the end", func(o *clusterOptions) { o.restartKilled = time.Minute }, "the restart within --duration"},
		{"kill and stop", func(o *clusterOptions) { o.stopAt = 20 * time.Second }, "give one"},
		{"stop after the end", func(o *clusterOptions) { o.killAt, o.stopAt = 0, 2*time.Minute }, "--stop-at 2m0s is not within"},
		{"stop needs node 2", func(o *clusterOptions) { o.nodes, o.pauseAt, o.killAt, o.stopAt = 1, 0, 0, time.Second }, "--stop-at stops node 2"},
	} {
		o := ok
		tc.edit(&o)
		err := o.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestUndoStackLastInFirstOut: what started last is stopped first, and a
// failing step does not stop the others.
func TestUndoStackLastInFirstOut(t *testing.T) {
	var log bytes.Buffer
	u := &undoStack{log: &log}
	var order []string
	for _, n := range []string{"postgres", "n1", "haproxy"} {
		u.push(n, func() error {
			order = append(order, n)
			if n == "n1" {
				return errors.New("boom")
			}
			return nil
		})
	}
	u.run()
	if got := strings.Join(order, ","); got != "haproxy,n1,postgres" {
		t.Errorf("order %s, want haproxy,n1,postgres", got)
	}
	if !strings.Contains(log.String(), "cleanup n1: boom") {
		t.Errorf("failure not reported: %q", log.String())
	}
	u.run() // a second run has nothing left to do
	if len(order) != 3 {
		t.Errorf("steps ran twice: %v", order)
	}
}

// TestFleetTrackerMoved: the moved hubs are those that lost their session
// just after the signal; the failover lasts until the last is back.
func TestFleetTrackerMoved(t *testing.T) {
	kill := time.Unix(1000, 0)
	at := func(s float64) int64 { return kill.Add(time.Duration(s * float64(time.Second))).UnixNano() }
	tr := newFleetTracker(4)
	w := &lineWriter{fn: tr.add}
	lines := []fleetLine{
		{Kind: "on", Hub: 0, At: at(-10)}, {Kind: "on", Hub: 1, At: at(-10)}, {Kind: "on", Hub: 2, At: at(-10)},
		{Kind: "off", Hub: 0, At: at(0.1)}, {Kind: "on", Hub: 0, At: at(1.5)}, // moved, back at 1.5 s
		{Kind: "off", Hub: 1, At: at(0.2)}, {Kind: "on", Hub: 1, At: at(3.0)}, // moved, back at 3 s
		{Kind: "off", Hub: 2, At: at(20)}, // dropped later: not moved by the kill
		{Kind: "on", Hub: 3, At: at(1)},   // was not online at the kill
	}
	for _, l := range lines {
		b, _ := json.Marshal(l)
		// Split a line in two writes, as a pipe may.
		w.Write(b[:5])
		w.Write(append(b[5:], '\n'))
	}
	n, s := tr.moved(kill, 5*time.Second)
	if n != 2 || s == nil || *s != 3.0 {
		t.Fatalf("moved %d, failover %v; want 2 hubs, 3 s", n, s)
	}
	tr.add(fleetLine{Kind: "off", Hub: 3, At: at(2)})
	if n, s := tr.moved(kill, 5*time.Second); n != 2 || s == nil {
		t.Errorf("a hub online only after the kill counted: %d %v", n, s)
	}
	tr.add(fleetLine{Kind: "on", Hub: 2, At: at(25)})
	tr.add(fleetLine{Kind: "off", Hub: 2, At: at(30.5)})
	if n, s := tr.moved(kill.Add(30*time.Second), 5*time.Second); n != 1 || s != nil {
		t.Errorf("a hub never back: moved %d, failover %v; want 1, null", n, s)
	}
}

// TestFleetTrackerCarriedSOS: an SOS published into a session that ended
// before its PUBACK was carried to the next session, as a buffered one
// is; one acknowledged before the session ended was served.
func TestFleetTrackerCarriedSOS(t *testing.T) {
	at := func(s float64) int64 {
		return time.Unix(1000, 0).Add(time.Duration(s * float64(time.Second))).UnixNano()
	}
	tr := newFleetTracker(2)
	for _, l := range []fleetLine{
		{Kind: "on", Hub: 0, At: at(0)}, {Kind: "on", Hub: 1, At: at(0)},
		{Kind: "sos", Hub: 0, At: at(1), ID: "a", Online: true}, {Kind: "ack", Hub: 0, At: at(1.01), ID: "a"},
		{Kind: "sos", Hub: 1, At: at(1), ID: "b", Online: true}, {Kind: "off", Hub: 1, At: at(1.5)},
		{Kind: "on", Hub: 1, At: at(4)}, {Kind: "ack", Hub: 1, At: at(4.1), ID: "b"},
		{Kind: "off", Hub: 0, At: at(2)},
	} {
		tr.add(l)
	}
	a, b := tr.sos["a"], tr.sos["b"]
	if tr.lostSessionBefore(a.hub, a.at, a.ack) {
		t.Error("an SOS acknowledged before its session ended counted as carried")
	}
	if !tr.lostSessionBefore(b.hub, b.at, b.ack) {
		t.Error("an SOS whose session ended before its PUBACK not counted as carried")
	}
	if !tr.lostSessionBefore(b.hub, b.at, 0) {
		t.Error("an SOS never acknowledged, its session ended, not counted as carried")
	}
	if tr.hadSessionBefore(0, at(0)) || !tr.hadSessionBefore(0, at(0.5)) {
		t.Error("hadSessionBefore: want false at the first CONNECT's moment, true after it")
	}
}

// clusterBinaries builds dolbomd, dolbom-119 and dolbom-sim into the
// test's own folder (the second test's build is the cache's link step):
// the harness runs them as processes, the simulator children too.
func clusterBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "../dolbomd", "../dolbom-119", ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build binaries: %v\n%s", err, out)
	}
	return dir
}

// TestClusterSmall runs the cluster harness as issue 16's small test does:
// 3 dolbomd processes on a throwaway PostgreSQL behind one HAProxy, 300
// homes over TCP, n2 SIGKILLed at 15 s, n3 SIGSTOPped at 35 s for 8 s,
// the end at 60 s. Targets are not checked yet (--check comes with hub
// ownership); it asserts that every field of the contract is there and
// that every process the harness started has ended.
func TestClusterSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a 90 s run of real processes")
	}
	needTool(t, "haproxy")
	if _, err := os.Stat("/usr/lib/postgresql"); err != nil && os.Getenv("DOLBOM_REQUIRE_POSTGRES") != "1" {
		t.Skip("no PostgreSQL server binaries (make test installs them)")
	}
	bin := clusterBinaries(t)
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(filepath.Join(bin, "dolbom-sim"), "cluster", "--nodes", "3", "--homes", "300",
		"--duration", "60s", "--kill-at", "15s", "--pause-at", "35s", "--pause-for", "8s", "--drain", "10s",
		"--dolbomd", filepath.Join(bin, "dolbomd"), "--dolbom-119", filepath.Join(bin, "dolbom-119"),
		"--dir", dir, "--keep", "--json",
		// Short leases, so that the killed node's silent homes are
		// adopted within the run.
		"--dolbomd-arg=--cluster-renew=1s", "--dolbomd-arg=--cluster-ttl=3s", "--dolbomd-arg=--cluster-scan=1s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	t.Logf("harness ran %.0f s", time.Since(t0).Seconds())
	if err != nil {
		t.Fatalf("dolbom-sim cluster: %v\n%s", err, stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	for _, path := range []string{"nodes", "homes", "connected", "failover_s", "adopted_s", "lost",
		"duplicates.incidents", "duplicates.cap", "duplicates.cap_repeats", "false_alarms", "stale_writes_rejected",
		"latency_ms.incident.p50", "latency_ms.incident.p99", "latency_ms.incident_failover.p99"} {
		m := rep
		parts := strings.Split(path, ".")
		for i, p := range parts {
			v, ok := m[p]
			if !ok {
				t.Errorf("report lacks %s", path)
				break
			}
			if i < len(parts)-1 {
				if m, ok = v.(map[string]any); !ok {
					t.Errorf("%s is not an object", strings.Join(parts[:i+1], "."))
					break
				}
			}
		}
	}
	// Every served SOS is split into its stages by the moments its gateway
	// kept in the incident, and the slowest name their node.
	inc, _ := rep["latency_ms"].(map[string]any)["incident"].(map[string]any)
	all, _ := rep["stages_ms"].(map[string]any)["all"].(map[string]any)
	for _, st := range clusterStageNames {
		sum, _ := all[st].(map[string]any)
		if sum == nil || sum["n"] != inc["n"] || rep["stages_missing"] != 0.0 {
			t.Errorf("stages_ms.all.%s = %v, want the n of latency_ms.incident %v (stages_missing %v)", st, sum, inc["n"], rep["stages_missing"])
		}
	}
	for _, s := range rep["slowest_served"].([]any) {
		sm := s.(map[string]any)
		st, _ := sm["stages_ms"].(map[string]any)
		if node, _ := sm["node"].(string); !strings.HasPrefix(node, "n") || st == nil {
			t.Errorf("slowest_served lacks its node or stages: %v", sm)
			continue
		}
		sum := st["receive"].(float64) + st["journal"].(float64) + st["detect"].(float64) + st["open"].(float64)
		if lat := (sm["incident_s"].(float64) - sm["published_s"].(float64)) * 1e3; math.Abs(sum-lat) > 1 {
			t.Errorf("slowest_served stages add up to %.1f ms, its latency is %.1f ms: %v", sum, lat, sm)
		}
	}
	if rep["nodes"] != 3.0 || rep["homes"] != 300.0 {
		t.Errorf("nodes %v homes %v", rep["nodes"], rep["homes"])
	}
	// The kill moved node 2's hubs: the harness saw it.
	if n, _ := rep["moved_at_kill"].(float64); n == 0 {
		t.Errorf("no hub moved at the kill of n2:\n%s", stderr.String())
	}
	t.Logf("connected %v failover_s %v pause_failover_s %v lost %v duplicates %v false_alarms %v latency %v",
		rep["connected"], rep["failover_s"], rep["pause_failover_s"], rep["lost"], rep["duplicates"], rep["false_alarms"], rep["latency_ms"])
	// The safety targets of issue 16 (not the latency ones: this machine is
	// shared, and speed is measured by the contract runs, not asserted here).
	num := func(v any) (float64, bool) { f, ok := v.(float64); return f, ok }
	dup, _ := rep["duplicates"].(map[string]any)
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"lost 0", rep["lost"] == 0.0},
		{"no duplicate incident", dup["incidents"] == 0.0},
		{"no duplicate CAP identifier", dup["cap"] == 0.0},
		{"false_alarms 0", rep["false_alarms"] == 0.0},
		{"stale writes refused after the pause", func() bool { n, ok := num(rep["stale_writes_rejected"]); return ok && n > 0 }()},
		{"no state going backwards", rep["state_backwards"] == 0.0},
		{"failover_s <= 30", func() bool { n, ok := num(rep["failover_s"]); return ok && n <= 30 }()},
		{"the killed node's silent homes adopted within 60 s", func() bool { n, ok := num(rep["adopted_s"]); return ok && n <= 60 }()},
	} {
		if !c.ok {
			t.Errorf("missed: %s (connected %v failover_s %v adopted_s %v lost %v duplicates %v false_alarms %v by cause %v stale %v backwards %v)",
				c.what, rep["connected"], rep["failover_s"], rep["adopted_s"], rep["lost"], rep["duplicates"], rep["false_alarms"],
				rep["false_alarms_by_cause"], rep["stale_writes_rejected"], rep["state_backwards"])
		}
	}

	// Every process it started has ended.
	procs, _ := rep["processes"].([]any)
	if len(procs) < 3+1+1+1 {
		t.Errorf("%d processes reported, want the 3 nodes, the mock 119, HAProxy and a simulator", len(procs))
	}
	for _, p := range procs {
		pm := p.(map[string]any)
		pid := int(pm["pid"].(float64))
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			t.Errorf("%s (pid %d) still runs after the harness exited", pm["name"], pid)
		}
	}
	if pg, _ := rep["postgres_dir"].(string); pg == "" {
		t.Error("no postgres_dir: the harness did not start its own PostgreSQL")
	} else if _, err := os.Stat(pg); err == nil {
		t.Errorf("PostgreSQL's folder %s is left behind", pg)
	}
	if _, err := os.Stat(filepath.Join(dir, "pgtest.state")); err == nil {
		t.Error("the throwaway PostgreSQL was not stopped (pgtest.state left)")
	}
	// Nothing else runs with the run's folder on its command line.
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(dir)) {
			t.Errorf("process %s still runs from the run's folder: %q", e.Name(), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

// startedPids reads the harness's "cluster: started NAME pid N" lines.
func startedPids(t *testing.T, stderr string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, l := range strings.Split(stderr, "\n") {
		var name string
		var pid int
		if n, _ := fmt.Sscanf(l, "cluster: started %s pid %d", &name, &pid); n == 2 {
			pids[name] = pid
		}
	}
	return pids
}

func assertEnded(t *testing.T, pids map[string]int) {
	t.Helper()
	for name, pid := range pids {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			t.Errorf("%s (pid %d) still runs after the harness exited", name, pid)
		}
	}
}

// TestClusterCleansUpOnErrorAndInterrupt: a gateway that cannot start, and
// a Ctrl-C in the middle of a run, both end every process the harness
// started and stop its PostgreSQL.
func TestClusterCleansUpOnErrorAndInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and PostgreSQL")
	}
	needTool(t, "haproxy")
	if _, err := os.Stat("/usr/lib/postgresql"); err != nil && os.Getenv("DOLBOM_REQUIRE_POSTGRES") != "1" {
		t.Skip("no PostgreSQL server binaries (make test installs them)")
	}
	bin := clusterBinaries(t)
	run := func(t *testing.T, dolbomd string, interruptAfter string) (string, error) {
		dir := filepath.Join(t.TempDir(), "run")
		cmd := exec.Command(filepath.Join(bin, "dolbom-sim"), "cluster", "--nodes", "2", "--homes", "20",
			"--duration", "5m", "--dolbomd", dolbomd, "--dolbom-119", filepath.Join(bin, "dolbom-119"), "--dir", dir)
		// Its stderr goes to a file (written by the harness, read here while
		// it runs).
		logFile := filepath.Join(t.TempDir(), "stderr")
		f, err := os.Create(logFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stderr = f
		stderr := fileText(logFile)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if interruptAfter != "" {
			deadline := time.After(3 * time.Minute)
		wait:
			for !strings.Contains(stderr.String(), interruptAfter) {
				select {
				case err := <-done:
					t.Fatalf("harness ended before %q: %v\n%s", interruptAfter, err, stderr.String())
				case <-deadline:
					cmd.Process.Kill()
					t.Fatalf("no %q within 3 min:\n%s", interruptAfter, stderr.String())
				case <-time.After(100 * time.Millisecond):
					continue wait
				}
			}
			cmd.Process.Signal(os.Interrupt)
		}
		err = <-done
		out := stderr.String()
		pids := startedPids(t, out)
		if len(pids) == 0 {
			t.Fatalf("no process reported started:\n%s", out)
		}
		assertEnded(t, pids)
		if _, err := os.Stat(filepath.Join(dir, "pgtest.state")); err == nil {
			t.Errorf("PostgreSQL left running (pgtest.state):\n%s", out)
		}
		return out, err
	}
	t.Run("gateway fails to start", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "dolbomd")
		if err := os.WriteFile(bad, []byte("#!/bin/sh\necho cannot start >&2\nexit 3\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := run(t, bad, "")
		if err == nil || !strings.Contains(out, "n1 exited while starting") {
			t.Errorf("want exit 1 naming n1: %v\n%s", err, out)
		}
	})
	t.Run("Ctrl-C during the run", func(t *testing.T) {
		out, err := run(t, filepath.Join(bin, "dolbomd"), "cluster: started fleet-1")
		if err == nil {
			t.Errorf("interrupted harness exited 0:\n%s", out)
		}
	})
}

// fileText reads a file as it is at each call.
type fileText string

func (f fileText) String() string {
	b, _ := os.ReadFile(string(f))
	return string(b)
}

// TestCheckNamesEachMissedTarget: --check fails a run on each target of
// issue 16, and passes one that meets them all.
func TestCheckNamesEachMissedTarget(t *testing.T) {
	o := &clusterOptions{killAt: time.Minute, pauseAt: 2 * time.Minute, silent: 0.01}
	good := func() *ClusterReport {
		return &ClusterReport{Homes: 300, Connected: 297, Silent: 3, FailoverS: ptr(8), AdoptedS: ptr(40),
			StaleWritesRejected: new(int64(5)), StateBackwards: new(int64(0)),
			LatencyMS: map[string]firmwaresim.LatencySummary{"incident": {N: 10, P99: 80}, "incident_failover": {N: 5, P99: 900}}}
	}
	if m := good().misses(o); len(m) != 0 {
		t.Fatalf("a run meeting every target: %v", m)
	}
	for _, tc := range []struct {
		edit func(*ClusterReport)
		want string
	}{
		{func(r *ClusterReport) { r.FailoverS = nil }, "did not all come back"},
		{func(r *ClusterReport) { r.FailoverS = ptr(31) }, "failover_s 31.0 > 30"},
		{func(r *ClusterReport) { r.AdoptedS = nil }, "adopted_s"},
		{func(r *ClusterReport) { r.AdoptedS = ptr(61) }, "adopted_s 61.0 > 60"},
		{func(r *ClusterReport) { r.Lost = 1 }, "lost 1"},
		{func(r *ClusterReport) { r.Duplicates.CAP = 1 }, "1 CAP identifiers"},
		{func(r *ClusterReport) { r.FalseAlarms = 2 }, "false_alarms 2"},
		{func(r *ClusterReport) { r.StaleWritesRejected = nil }, "stale_writes_rejected"},
		{func(r *ClusterReport) { *r.StateBackwards = 1 }, "state_backwards 1"},
		{func(r *ClusterReport) { r.SOS.BufferedLate = 1 }, "sos.buffered_late 1"},
		{func(r *ClusterReport) { r.LatencyMS["incident"] = firmwaresim.LatencySummary{N: 1, P99: 101} }, "incident.p99 101"},
		{func(r *ClusterReport) { r.LatencyMS["incident_failover"] = firmwaresim.LatencySummary{N: 1, P99: 1001} }, "incident_failover.p99 1001"},
		{func(r *ClusterReport) { r.Connected = 296 }, "connected 296"},
	} {
		r := good()
		tc.edit(r)
		m := strings.Join(r.misses(o), "; ")
		if !strings.Contains(m, tc.want) {
			t.Errorf("want a miss with %q, got %q", tc.want, m)
		}
	}
}

// TestStagesOfIncident: the stages add up to the latency, a moment out of
// order counts 0 in its stage, and an incident without moments has none.
func TestStagesOfIncident(t *testing.T) {
	at := func(ms int64) time.Time { return time.Unix(100, ms*1e6) }
	publish, opened := at(0).UnixNano(), at(100).UnixNano()
	c, ok := stagesOfIncident(publish, opened, &detectors.Timing{Received: at(5), Journaled: at(40), Detected: at(60)})
	if want := (clusterStage{Receive: 5, Journal: 35, Detect: 20, Open: 40}); !ok || c != want {
		t.Errorf("stages %+v %v, want %+v", c, ok, want)
	}
	// The detection stamped before the journal's moment (another
	// goroutine's clock read): detect 0, not negative.
	c, ok = stagesOfIncident(publish, opened, &detectors.Timing{Received: at(5), Journaled: at(40), Detected: at(30)})
	if want := (clusterStage{Receive: 5, Journal: 35, Detect: 0, Open: 60}); !ok || c != want {
		t.Errorf("stages %+v %v, want %+v", c, ok, want)
	}
	if _, ok := stagesOfIncident(publish, opened, nil); ok {
		t.Error("an incident without timing has stages")
	}
	if _, ok := stagesOfIncident(publish, opened, &detectors.Timing{Received: at(5)}); ok {
		t.Error("an incident lacking moments has stages")
	}
}
