package main

// `dolbom-sim cluster`: several dolbomd processes on one PostgreSQL behind
// HAProxy, the mock 119 and the simulated fleet over real TCP; node 2 is
// SIGKILLed and node 3 SIGSTOPped on schedule, and the run is reported as
// the JSON contract of issue 16 (docs/cluster.md, "Measuring a cluster").

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
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

	"github.com/dolbom/dolbom/devices"
)

// clusterOptions are the flags of `dolbom-sim cluster`.
type clusterOptions struct {
	nodes, homes                        int
	duration, killAt, pauseAt, pauseFor time.Duration
	stopAt                              time.Duration
	drain, heartbeatTimeout, maxBackoff time.Duration
	restartKilled, silentFor            time.Duration
	silent                              float64
	databaseURL, dir, pgtest            string
	dolbomd, mock119, haproxy           string
	asJSON, check, keep                 bool
	sosRate, connectRate                float64
	maxHubs, perHAProxy, hubsPerAddress int
	nodeMemLimit                        string
	seed                                uint64
	fleetChild                          string
	dolbomdArgs                         []string
	args                                []string
}

// clusterMaxHomes bounds a run on the shared build machines (the lead runs
// the large ones): 4 HAProxy processes and 3 gateways hold 30,000 hubs.
const clusterMaxHomes = 30000

func (o *clusterOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.nodes, "nodes", 3, "dolbomd processes, on 127.0.0.2, 127.0.0.3, ...")
	fs.IntVar(&o.homes, "homes", 300, fmt.Sprintf("simulated homes (at most %d)", clusterMaxHomes))
	fs.DurationVar(&o.duration, "duration", time.Minute, "run time, from the fleet's start")
	fs.DurationVar(&o.killAt, "kill-at", 0, "SIGKILL node 2 this long after the fleet's start (0: never)")
	fs.DurationVar(&o.stopAt, "stop-at", 0, "SIGTERM node 2 this long after the fleet's start instead of killing it: a graceful stop, in which it leaves the cluster; measured as a kill is (0: never)")
	fs.DurationVar(&o.pauseAt, "pause-at", 0, "SIGSTOP node 3 this long after the fleet's start (0: never)")
	fs.DurationVar(&o.pauseFor, "pause-for", 45*time.Second, "SIGCONT node 3 this long after --pause-at")
	fs.DurationVar(&o.restartKilled, "restart-killed", 0, "start node 2 again this long after its kill, as systemd's Restart=always would (0: never)")
	fs.Float64Var(&o.silent, "silent", 0.01, "share of the killed (and paused) node's hubs switched off at its signal: homes another node must adopt (read from hub_owners; none before ownership)")
	fs.DurationVar(&o.silentFor, "silent-for", 0, "how long the silent hubs stay off (0: until the end)")
	fs.DurationVar(&o.drain, "drain", 10*time.Second, "after --duration, wait this long for the last SOS to become incidents")
	fs.DurationVar(&o.heartbeatTimeout, "heartbeat-timeout", 0, "gateways' --heartbeat-timeout; hubs then heartbeat at a third of it (0: dolbomd's default, hubs every 300 s)")
	fs.DurationVar(&o.maxBackoff, "hub-max-backoff", 0, "cap of the hubs' reconnect backoff (0: the firmware's 300 s)")
	fs.StringVar(&o.databaseURL, "database-url", "", "PostgreSQL to use (default: a throwaway server from scripts/pgtest.sh, deleted at exit)")
	fs.StringVar(&o.pgtest, "pgtest", "", "path of scripts/pgtest.sh (default: found above the working directory)")
	fs.StringVar(&o.dir, "dir", "", "working folder for logs, data and configuration (default: a temporary one, deleted at exit unless --keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep --dir (logs of every process) at exit")
	fs.StringVar(&o.dolbomd, "dolbomd", "dolbomd", "dolbomd binary")
	fs.StringVar(&o.mock119, "dolbom-119", "dolbom-119", "mock 119 binary")
	fs.StringVar(&o.haproxy, "haproxy", "haproxy", "HAProxy binary (Debian's haproxy)")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&o.check, "check", false, "exit 1 when a target of issue 16 is missed")
	fs.Float64Var(&o.sosRate, "sos-rate", 1, "SOS events per second across the fleet, each on a home not used before")
	fs.Float64Var(&o.connectRate, "connect-rate", 500, "hubs started per second at the beginning")
	fs.IntVar(&o.maxHubs, "max-hubs", 19000, "each gateway's --max-hubs (auto would size every node from the whole machine)")
	fs.IntVar(&o.hubsPerAddress, "hubs-per-address", 50, "simulated hubs sharing one source address (a home's broadband line has its own; LTE hubs behind a carrier's NAT share one): the gateways see these addresses through HAProxy's PROXY protocol and apply their per-address CONNECT limit to them")
	fs.IntVar(&o.perHAProxy, "per-haproxy", 7500, "homes per HAProxy process (2 descriptors per session under the 20,000 limit)")
	fs.StringVar(&o.nodeMemLimit, "node-memlimit", "3GiB", "each gateway's GOMEMLIMIT")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the SOS schedule")
	fs.Func("dolbomd-arg", "an extra argument for every gateway, repeatable (e.g. --dolbomd-arg=--cluster-ttl=3s)", func(v string) error {
		o.dolbomdArgs = append(o.dolbomdArgs, v)
		return nil
	})
	fs.StringVar(&o.fleetChild, "fleet-child", "", "internal: run the simulator child described by this file")
}

func (o *clusterOptions) validate() error {
	var errs []error
	if o.nodes < 1 || o.nodes > 200 {
		errs = append(errs, fmt.Errorf("--nodes %d: want 1 to 200", o.nodes))
	}
	if o.homes < 1 || o.homes > clusterMaxHomes {
		errs = append(errs, fmt.Errorf("--homes %d: want 1 to %d", o.homes, clusterMaxHomes))
	}
	if o.duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %s: want a positive duration", o.duration))
	}
	if o.killAt < 0 || o.stopAt < 0 || o.pauseAt < 0 || o.pauseFor < 0 || o.drain < 0 {
		errs = append(errs, errors.New("--kill-at, --stop-at, --pause-at, --pause-for and --drain must not be negative"))
	}
	if o.killAt > 0 && o.nodes < 2 {
		errs = append(errs, fmt.Errorf("--kill-at kills node 2: needs --nodes 2 or more, not %d", o.nodes))
	}
	if o.stopAt > 0 && o.nodes < 2 {
		errs = append(errs, fmt.Errorf("--stop-at stops node 2: needs --nodes 2 or more, not %d", o.nodes))
	}
	if o.stopAt > 0 && o.killAt > 0 {
		errs = append(errs, errors.New("--kill-at and --stop-at both end node 2: give one"))
	}
	if o.pauseAt > 0 && o.nodes < 3 {
		errs = append(errs, fmt.Errorf("--pause-at pauses node 3: needs --nodes 3 or more, not %d", o.nodes))
	}
	if o.killAt >= o.duration && o.killAt > 0 {
		errs = append(errs, fmt.Errorf("--kill-at %s is not within --duration %s", o.killAt, o.duration))
	}
	if o.stopAt >= o.duration && o.stopAt > 0 {
		errs = append(errs, fmt.Errorf("--stop-at %s is not within --duration %s", o.stopAt, o.duration))
	}
	if ended := o.n2Ends(); o.restartKilled < 0 || o.restartKilled > 0 && (ended == 0 || ended+o.restartKilled >= o.duration) {
		errs = append(errs, fmt.Errorf("--restart-killed %s: needs --kill-at (or --stop-at), and the restart within --duration", o.restartKilled))
	}
	if o.pauseAt > 0 && o.pauseAt+o.pauseFor > o.duration {
		errs = append(errs, fmt.Errorf("--pause-at %s + --pause-for %s ends after --duration %s", o.pauseAt, o.pauseFor, o.duration))
	}
	if o.hubsPerAddress < 1 {
		errs = append(errs, fmt.Errorf("--hubs-per-address %d: want 1 or more", o.hubsPerAddress))
	}
	if o.perHAProxy < 1 || o.perHAProxy > 9500 {
		errs = append(errs, fmt.Errorf("--per-haproxy %d: want 1 to 9,500 (2 descriptors per session, 20,000 per process)", o.perHAProxy))
	}
	if o.silent < 0 || o.silent > 1 || o.silentFor < 0 {
		errs = append(errs, fmt.Errorf("--silent %g: want a share from 0 to 1, and --silent-for not negative", o.silent))
	}
	if o.sosRate < 0 || o.connectRate <= 0 {
		errs = append(errs, errors.New("--sos-rate must not be negative and --connect-rate must be positive"))
	}
	if o.maxHubs < 1 {
		errs = append(errs, fmt.Errorf("--max-hubs %d: want a positive number", o.maxHubs))
	}
	return errors.Join(errs...)
}

// n2Ends is when node 2 is killed or stopped (0: never).
func (o *clusterOptions) n2Ends() time.Duration { return max(o.killAt, o.stopAt) }

func cmdCluster(ctx context.Context, args []string, stdout, stderr io.Writer) (failed bool, err error) {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := clusterOptions{args: args}
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if o.fleetChild != "" {
		return false, runFleetChild(ctx, o.fleetChild, os.Stdin, stdout)
	}
	if err := o.validate(); err != nil {
		return false, err
	}
	rep, err := runCluster(ctx, &o, stderr)
	if err != nil {
		return false, err
	}
	misses := rep.misses(&o)
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return false, err
		}
	} else {
		rep.print(stdout)
	}
	if o.check && len(misses) > 0 {
		for _, m := range misses {
			fmt.Fprintln(stderr, "cluster: target missed:", m)
		}
		return true, nil
	}
	return false, nil
}

// clusterRun is one run's processes and addresses.
type clusterRun struct {
	o         *clusterOptions
	dir       string
	dbURL     string
	token     string
	undo      *undoStack
	nodes     []*clusterNode
	mock119   string // base URL
	haproxies []*clusterHAProxy
	procs     []*proc
	track     *fleetTracker
	log       io.Writer
	// fleet is the simulator children, perFleet homes each in index order.
	fleet    []*proc
	perFleet int
	// watches follow ownership after each signal (cluster_owners.go).
	watches        []*ownerWatch
	watchWG        sync.WaitGroup
	stateBackwards *int64 // set when the watches end
}

type clusterNode struct {
	name       string
	mqtt, http string
	p          *proc
	killed     bool
	// env and args start it again (--restart-killed).
	env, args []string
}

type clusterHAProxy struct {
	mqtt, http string
	p          *proc
}

func runCluster(ctx context.Context, o *clusterOptions, stderr io.Writer) (*ClusterReport, error) {
	undo := &undoStack{log: stderr}
	defer undo.run()
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "dolbom-cluster-")
		if err != nil {
			return nil, err
		}
		dir = d
		if !o.keep {
			undo.push("working folder", func() error { return os.RemoveAll(d) })
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &clusterRun{o: o, dir: dir, undo: undo, log: stderr, track: newFleetTracker(o.homes)}
	bins := map[string]*string{"dolbomd": &o.dolbomd, "dolbom-119": &o.mock119, "haproxy": &o.haproxy}
	for flagName, v := range bins {
		p, err := lookBin(flagName, *v)
		if err != nil {
			return nil, err
		}
		*v = p
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "cluster: %d nodes, %d homes, working folder %s\n", o.nodes, o.homes, dir)

	r.dbURL = o.databaseURL
	pgDir := ""
	if r.dbURL == "" {
		if r.dbURL, err = startPostgres(ctx, undo, o.pgtest, dir, stderr); err != nil {
			return nil, err
		}
		if b, err := os.ReadFile(filepath.Join(dir, "pgtest.state")); err == nil {
			pgDir, _, _ = strings.Cut(string(b), "\n")
		}
	}
	if err := r.startMock119(ctx); err != nil {
		return nil, err
	}
	if err := r.startNodes(ctx); err != nil {
		return nil, err
	}
	if err := r.startHAProxies(ctx); err != nil {
		return nil, err
	}
	a := &api{base: "http://" + r.haproxies[0].http, token: r.token, hc: &http.Client{Timeout: 30 * time.Second}}
	ids, secrets, err := provisionHomes(ctx, apiProvisioner{a}, o.homes, 0, false, stderr)
	if err != nil {
		return nil, err
	}
	runStart := time.Now()
	if err := r.startFleet(ctx, self, ids, secrets); err != nil {
		return nil, err
	}
	ev, err := r.schedule(ctx, runStart)
	if err != nil {
		return nil, err
	}
	rep, err := r.measure(ctx, runStart, ev)
	if err != nil {
		return nil, err
	}
	for _, p := range r.procs {
		rep.Processes = append(rep.Processes, clusterProc{Name: p.name, PID: p.pid()})
	}
	rep.PostgresDir = pgDir
	return rep, nil
}

// randomHex returns n random bytes in hex.
func randomHexString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *clusterRun) start(name string, env []string, stdout io.Writer, bin string, args ...string) (*proc, error) {
	p, err := startProc(r.undo, name, filepath.Join(r.dir, name+".log"), env, stdout, bin, args...)
	if err != nil {
		return nil, err
	}
	r.procs = append(r.procs, p)
	fmt.Fprintf(r.log, "cluster: started %s pid %d\n", name, p.pid())
	return p, nil
}

func (r *clusterRun) startMock119(ctx context.Context) error {
	addr, err := freeAddr("127.0.0.1")
	if err != nil {
		return err
	}
	// No answer URL: 119 receives and counts, and never answers, so that
	// every alert of a run stays on record for the duplicate count.
	p, err := r.start("dolbom-119", nil, nil, r.o.mock119, "--listen", addr, "--xsd", "", "--auto-accept", "0", "--log-level", "warn")
	if err != nil {
		return err
	}
	r.mock119 = "http://" + addr
	return waitHTTP(ctx, p, r.mock119+"/stats", 30*time.Second)
}

// startNodes starts node 1 alone first (it migrates the database and makes
// the admin account), then the others together.
func (r *clusterRun) startNodes(ctx context.Context) error {
	r.token = randomHexString(24)
	env := []string{
		"DOLBOM_ADMIN_TOKEN=" + r.token,
		"DOLBOM_SECRET_KEY=" + randomHexString(32),
		"DOLBOM_CAP_ANSWER_TOKEN=" + randomHexString(24),
		"GOMEMLIMIT=" + r.o.nodeMemLimit,
	}
	for i := 1; i <= r.o.nodes; i++ {
		host := fmt.Sprintf("127.0.0.%d", i+1)
		mqtt, err := freeAddr(host)
		if err != nil {
			return err
		}
		httpAddr, err := freeAddr(host)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("n%d", i)
		args := []string{"--node", name, "--data-dir", filepath.Join(r.dir, name), "--database-url", r.dbURL,
			"--mqtt-addr", mqtt, "--http-addr", httpAddr, "--twilio", "fake", "--cap-url", r.mock119 + "/cap",
			"--log-format", "json", "--log-level", "info", "--max-hubs", fmt.Sprint(r.o.maxHubs),
			// HAProxy connects from 127.0.2.J and sends each hub's own
			// address (send-proxy-v2), as deploy/haproxy.cfg does.
			"--mqtt-proxy-from", haproxySources,
			// Ownership, leases and fencing (docs/cluster.md). There is no
			// run without: gateways without --cluster refuse each other on
			// one database (the solo guard).
			"--cluster"}
		if r.o.heartbeatTimeout > 0 {
			args = append(args, "--heartbeat-timeout", r.o.heartbeatTimeout.String())
		}
		args = append(args, r.o.dolbomdArgs...)
		p, err := r.start(name, env, nil, r.o.dolbomd, args...)
		if err != nil {
			return err
		}
		n := &clusterNode{name: name, mqtt: mqtt, http: httpAddr, p: p, env: env, args: args}
		r.nodes = append(r.nodes, n)
		if i == 1 {
			if err := waitHTTP(ctx, p, "http://"+httpAddr+"/readyz", 2*time.Minute); err != nil {
				return err
			}
		}
	}
	for _, n := range r.nodes[1:] {
		if err := waitHTTP(ctx, n.p, "http://"+n.http+"/readyz", 2*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// startHAProxies starts one HAProxy per --per-haproxy homes, each with its
// front ends on 127.0.1.J and its connections to the gateways from
// 127.0.2.J (each source and destination pair has ~28,000 ports).
func (r *clusterRun) startHAProxies(ctx context.Context) error {
	count := (r.o.homes + r.o.perHAProxy - 1) / r.o.perHAProxy
	for j := 1; j <= count; j++ {
		front := fmt.Sprintf("127.0.1.%d", j)
		mqtt, err := freeAddr(front)
		if err != nil {
			return err
		}
		httpAddr, err := freeAddr(front)
		if err != nil {
			return err
		}
		c := haproxyConfig{
			Header:     fmt.Sprintf("written by dolbom-sim cluster for HAProxy %d of %d", j, count),
			MaxConn:    r.o.perHAProxy + 500,
			StatsSock:  filepath.Join(r.dir, fmt.Sprintf("haproxy-%d.sock", j)),
			MQTTBind:   mqtt,
			HTTPBind:   httpAddr,
			Source:     fmt.Sprintf("127.0.2.%d", j),
			ServerConn: r.o.maxHubs,
		}
		for _, n := range r.nodes {
			host, mp, _ := net.SplitHostPort(n.mqtt)
			_, hp, _ := net.SplitHostPort(n.http)
			var s haproxyServer
			s.Name, s.Host = n.name, host
			fmt.Sscan(mp, &s.MQTTPort)
			fmt.Sscan(hp, &s.HTTPPort)
			c.Servers = append(c.Servers, s)
		}
		cfg, err := c.render()
		if err != nil {
			return err
		}
		file := filepath.Join(r.dir, fmt.Sprintf("haproxy-%d.cfg", j))
		if err := os.WriteFile(file, cfg, 0o644); err != nil {
			return err
		}
		if out, err := exec.CommandContext(ctx, r.o.haproxy, "-c", "-q", "-f", file).CombinedOutput(); err != nil {
			return fmt.Errorf("haproxy -c -f %s: %v\n%s", file, err, out)
		}
		// -db: in the foreground, one process, whose pid is the one to end.
		p, err := r.start(fmt.Sprintf("haproxy-%d", j), nil, nil, r.o.haproxy, "-db", "-f", file)
		if err != nil {
			return err
		}
		h := &clusterHAProxy{mqtt: mqtt, http: httpAddr, p: p}
		r.haproxies = append(r.haproxies, h)
		if err := waitHTTP(ctx, p, "http://"+httpAddr+"/readyz", 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// haproxySources are the addresses the harness's HAProxies connect to the
// gateways from (127.0.2.J): the gateways take the PROXY protocol from them.
const haproxySources = "127.0.2.0/24"

// fleetSources are simulator child j's source addresses, one per
// perAddress of its hubs: 127.(16+j).X.Y, apart from every other child's and
// from HAProxy's.
func fleetSources(j, hubs, perAddress int) []string {
	n := max((hubs+perAddress-1)/perAddress, 1)
	out := make([]string, n)
	for k := range out {
		out[k] = fmt.Sprintf("127.%d.%d.%d", 16+j, k/250, k%250+1)
	}
	return out
}

// startFleet starts one simulator child per HAProxy with its share of the
// homes; their lines go to the tracker.
func (r *clusterRun) startFleet(ctx context.Context, self string, hubIDs []devices.HubID, secrets []string) error {
	ids := make([]string, len(hubIDs))
	for i, h := range hubIDs {
		ids[i] = string(h)
	}
	per := (len(ids) + len(r.haproxies) - 1) / len(r.haproxies)
	r.perFleet = per
	runID := fmt.Sprintf("c%x-", time.Now().Unix())
	for j, h := range r.haproxies {
		lo, hi := j*per, min((j+1)*per, len(ids))
		spec := fleetSpec{
			Target: h.mqtt, Sources: fleetSources(j, hi-lo, r.o.hubsPerAddress), First: lo,
			Hubs: ids[lo:hi], Secrets: secrets[lo:hi], Seed: r.o.seed + uint64(j),
			SOSRate: r.o.sosRate * float64(hi-lo) / float64(len(ids)), SOSFor: r.o.duration,
			MaxBackoff: r.o.maxBackoff, IDPrefix: runID, ConnectRate: r.o.connectRate / float64(len(r.haproxies)),
		}
		if r.o.heartbeatTimeout > 0 {
			spec.Heartbeat = uint16(max(r.o.heartbeatTimeout/3/time.Second, 1))
		}
		raw, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		file := filepath.Join(r.dir, fmt.Sprintf("fleet-%d.json", j+1))
		if err := os.WriteFile(file, raw, 0o600); err != nil {
			return err
		}
		p, err := r.start(fmt.Sprintf("fleet-%d", j+1), nil, &lineWriter{fn: r.track.add}, self, "cluster", "--fleet-child", file)
		if err != nil {
			return err
		}
		r.fleet = append(r.fleet, p)
	}
	return nil
}

// runEvents is when the harness signalled which node.
type runEvents struct {
	kill, restart, pause, resume, end time.Time
	connectedAtEnd                    int
}

// schedule kills and pauses on time, prints progress, and returns at the
// end of --duration plus --drain.
func (r *clusterRun) schedule(ctx context.Context, start time.Time) (runEvents, error) {
	var ev runEvents
	// Ownership and saved states are followed until the end of the drain.
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer func() { stopWatching(); r.watchWG.Wait() }()
	r.watchWG.Go(func() {
		n, err := watchState(watchCtx, r.dbURL)
		if err != nil {
			fmt.Fprintf(r.log, "cluster: watching home_state: %v\n", err)
		}
		r.stateBackwards = n
	})
	type step struct {
		at   time.Duration
		name string
		do   func(now time.Time) error
	}
	var steps []step
	// endN2 kills node 2, or stops it gracefully (SIGTERM, as systemd's
	// stop or a rolling upgrade: the node leaves the cluster); the figures
	// of either are the kill's.
	endN2 := func(sig syscall.Signal) func(now time.Time) error {
		return func(now time.Time) error {
			ev.kill = now
			if err := r.watchNode(watchCtx, "n2", now); err != nil {
				return err
			}
			r.nodes[1].killed = true
			return r.nodes[1].p.signal(sig)
		}
	}
	if r.o.killAt > 0 {
		steps = append(steps, step{r.o.killAt, "SIGKILL n2", endN2(syscall.SIGKILL)})
	}
	if r.o.stopAt > 0 {
		steps = append(steps, step{r.o.stopAt, "SIGTERM n2", endN2(syscall.SIGTERM)})
	}
	if r.o.restartKilled > 0 {
		// The same node name, data folder and addresses: a systemd
		// restart. HAProxy sends it new sessions once /readyz answers.
		steps = append(steps, step{r.o.n2Ends() + r.o.restartKilled, "restart n2", func(now time.Time) error {
			ev.restart = now
			n := r.nodes[1]
			p, err := r.start(n.name+"-restarted", n.env, nil, r.o.dolbomd, n.args...)
			if err != nil {
				return err
			}
			n.p, n.killed = p, false
			return nil
		}})
	}
	if r.o.pauseAt > 0 {
		steps = append(steps, step{r.o.pauseAt, "SIGSTOP n3", func(now time.Time) error {
			ev.pause = now
			if err := r.watchNode(watchCtx, "n3", now); err != nil {
				return err
			}
			return r.nodes[2].p.signal(syscall.SIGSTOP)
		}}, step{r.o.pauseAt + r.o.pauseFor, "SIGCONT n3", func(now time.Time) error {
			ev.resume = now
			return r.nodes[2].p.signal(syscall.SIGCONT)
		}})
	}
	steps = append(steps, step{r.o.duration, "end", func(now time.Time) error {
		ev.end = now
		ev.connectedAtEnd = r.track.online()
		return nil
	}})
	steps = append(steps, step{r.o.duration + r.o.drain, "drained", func(time.Time) error { return nil }})
	// In time order (a pause may come before the kill).
	for i := range steps {
		for j := i + 1; j < len(steps); j++ {
			if steps[j].at < steps[i].at {
				steps[i], steps[j] = steps[j], steps[i]
			}
		}
	}
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	for _, s := range steps {
		wait := time.NewTimer(time.Until(start.Add(s.at)))
	waiting:
		for {
			select {
			case <-ctx.Done():
				wait.Stop()
				return ev, ctx.Err()
			case <-progress.C:
				sent, acked := r.track.sosCounts()
				fmt.Fprintf(r.log, "cluster: %4.0fs online %d/%d, SOS sent %d acked %d\n",
					time.Since(start).Seconds(), r.track.online(), r.o.homes, sent, acked)
			case now := <-wait.C:
				fmt.Fprintf(r.log, "cluster: %4.1fs %s\n", now.Sub(start).Seconds(), s.name)
				if err := s.do(now); err != nil {
					return ev, fmt.Errorf("%s: %w", s.name, err)
				}
				break waiting
			}
		}
	}
	return ev, nil
}
