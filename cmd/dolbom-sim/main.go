// Command dolbom-sim plays many homes against a Dolbom gateway: the
// acceptance scenarios, the national load profile, a broker flood and the
// SisFall replay. By default it runs a whole dolbomd in-process and connects
// hubs through memory; --target drives a running gateway over TCP.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/memlimit"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

func main() {
	memlimit.KeepStacks() // first: it may start the process again
	memlimit.StartPacer()
	// The in-process gateway and the simulated fleet share this process:
	// the soft memory limit of dolbomd with PostgreSQL until the gateway
	// starts (startInproc sets it for its store).
	memlimit.Set(false)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: dolbom-sim <command> [flags]
commands:
  scenarios  run the acceptance suite (--json, --only A,B, --target, --server, --token)
  load       N homes on the national profile (--homes, --duration, --speed, --connect-rate)
  flood      publish as fast as acknowledgements allow (--target, --conns, --qos); --baseline and --rounds compare with another broker
  sisfall    replay SisFall trials through a simulated wearable (--data)
  rollout    a firmware rollout to N hubs through an in-process gateway, with injected install failures (--homes, --canary, --halt-on-failures, --ota-failure-rate, --json)
  soak       whole simulated days of N homes through an in-process gateway on the simulated clock: false alarms, injected emergencies, what reached 119 (--homes, --days, --check)`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	var failed bool
	switch args[0] {
	case "scenarios":
		failed, err = cmdScenarios(ctx, args[1:], stdout, stderr)
	case "load":
		err = cmdLoad(ctx, args[1:], stdout, stderr)
	case "flood":
		err = cmdFlood(ctx, args[1:], stdout, stderr)
	case "sisfall":
		err = cmdSisFall(ctx, args[1:], stdout, stderr)
	case "cluster": // several dolbomd behind HAProxy, one killed and one paused (cluster.go)
		failed, err = cmdCluster(ctx, args[1:], stdout, stderr)
	case "soak":
		failed, err = cmdSoak(ctx, args[1:], stdout, stderr)
	case "rollout": // a firmware rollout to N simulated hubs (rollout.go); halting is an outcome, not a failure
		_, err = cmdRollout(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "dolbom-sim:", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// common flags of the commands that drive a gateway.
type common struct {
	target, server, token, dataDir, logLevel string
	databaseURL                              string
	flushRows                                int
	seed                                     uint64
	mqtt5                                    bool
	// onDetection taps the in-process gateway's detections.
	onDetection func(detectors.Detection)
	// inproc adjusts the in-process gateway before it starts.
	inproc []func(*inproc)
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.target, "target", "", "a running gateway's MQTT address, mqtt://HOST:PORT (default: in-process)")
	fs.StringVar(&c.server, "server", "", "the running gateway's HTTP API base URL (with --target)")
	fs.StringVar(&c.token, "token", os.Getenv("DOLBOM_ADMIN_TOKEN"), "admin API token (with --target)")
	fs.StringVar(&c.dataDir, "data-dir", "", "in-process gateway data directory (default: a temporary one)")
	fs.StringVar(&c.logLevel, "log-level", "error", "gateway log level")
	fs.StringVar(&c.databaseURL, "database-url", "", "in-process gateway: PostgreSQL URL instead of the embedded store")
	fs.IntVar(&c.flushRows, "flush-rows", 0, "in-process gateway: readings per store transaction (0: the store's default)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the simulated days")
	fs.BoolVar(&c.mqtt5, "mqtt5", false, "hubs speak MQTT 5 (default 3.1.1)")
}

func (c *common) logger(stderr io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(c.logLevel)
	if err != nil {
		lvl = zerolog.WarnLevel
	}
	return zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()
}

func (c *common) version() byte {
	if c.mqtt5 {
		return 5
	}
	return 4
}

func targetAddr(t string) string {
	if u, err := url.Parse(t); err == nil && u.Host != "" {
		return u.Host
	}
	return t
}

// setup returns the transport, provisioner and API of the gateway to drive,
// and the in-process gateway when there is one.
func (c *common) setup(ctx context.Context, stderr io.Writer, bc broker.Config, direct bool) (firmwaresim.Transport, provisioner, *api, *inproc, func(), error) {
	if c.target != "" {
		if c.server == "" {
			return nil, nil, nil, nil, nil, errors.New("--target needs --server and --token to provision hubs")
		}
		a := &api{base: strings.TrimRight(c.server, "/"), token: c.token, hc: &http.Client{Timeout: 30 * time.Second}}
		tr := &firmwaresim.TCPTransport{Addr: targetAddr(c.target), Sources: firmwaresim.LoopbackSources(16)}
		return tr, apiProvisioner{a}, a, nil, func() {}, nil
	}
	dir := c.dataDir
	cleanup := func() {}
	if dir == "" {
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm" // fsync-free: the simulator measures the broker, not the disk
		}
		d, err := os.MkdirTemp(base, "dolbom-sim-")
		if err != nil {
			return nil, nil, nil, nil, nil, err
		}
		dir, cleanup = d, func() { os.RemoveAll(d) }
	}
	env, err := startInproc(ctx, dir, c.databaseURL, c.flushRows, bc, c.logger(stderr), c.onDetection, c.inproc...)
	if err != nil {
		cleanup()
		return nil, nil, nil, nil, nil, err
	}
	a := inprocAPI(env)
	a.token = env.gateway().Token
	var p provisioner = apiProvisioner{a}
	if direct {
		p = newStoreProvisioner(env)
	}
	return env.tr, p, a, env, func() { env.stop(); cleanup() }, nil
}

func cmdScenarios(ctx context.Context, args []string, stdout, stderr io.Writer) (bool, error) {
	fs := flag.NewFlagSet("scenarios", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print the results as JSON")
	only := fs.String("only", "", "comma-separated scenario names")
	maxWait := fs.Duration("max-wait", 2*time.Minute, "longest gateway time a scenario may wait for its outcome")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	list := Suite()
	if *only != "" {
		var err error
		if list, err = selectScenarios(list, *only); err != nil {
			return false, err
		}
	}
	results, err := runScenarios(ctx, &c, list, *maxWait, stderr)
	if err != nil {
		return false, err
	}
	failed := false
	for _, r := range results {
		failed = failed || r.Status == "fail"
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return failed, enc.Encode(map[string]any{"scenarios": results})
	}
	for _, r := range results {
		fmt.Fprintf(stdout, "%-8s %-26s %-9s %5.1fs puback_ms=%v\n", r.Status, r.Name, r.Class, r.Seconds, r.PubackMS)
		for _, ch := range r.Checks {
			lat := ""
			if ch.LatencyMS != nil {
				lat = fmt.Sprintf(" (%.0f ms)", *ch.LatencyMS)
			}
			fmt.Fprintf(stdout, "         %-8s %s%s %s\n", ch.Status, ch.Expect, lat, ch.Detail)
		}
	}
	return failed, nil
}

// selectScenarios keeps the named scenarios (names separated by commas).
func selectScenarios(list []Scenario, names string) ([]Scenario, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var sel []Scenario
	for _, sc := range list {
		if want[sc.Name] {
			sel = append(sel, sc)
			delete(want, sc.Name)
		}
	}
	if len(want) > 0 {
		return nil, fmt.Errorf("unknown scenarios: %v", want)
	}
	return sel, nil
}

func runScenarios(ctx context.Context, c *common, list []Scenario, maxWait time.Duration, stderr io.Writer) ([]Result, error) {
	tr, prov, a, env, cleanup, err := c.setup(ctx, stderr, broker.Config{}, false)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rn := &runner{prov: prov, api: a, env: env, maxWait: maxWait, runID: fmt.Sprintf("%x", time.Now().UnixNano()%0xffffff)}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rn.fleet = firmwaresim.NewFleet(firmwaresim.Options{Transport: tr, Seed: c.seed, Version: c.version(), NoReadings: true, NoEvents: true,
		IDPrefix: rn.runID + "-", MaxBackoff: 2 * time.Second, Observe: rn.observe})
	done := make(chan struct{})
	go func() { rn.fleet.Run(rctx); close(done) }()
	res := rn.runSuite(ctx, list)
	cancel()
	<-done
	return res, nil
}
