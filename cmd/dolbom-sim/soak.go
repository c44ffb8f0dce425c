package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// soakOptions are the flags of `dolbom-sim soak`.
type soakOptions struct {
	homes, days   int
	seed          uint64
	emergencyRate float64 // injected emergencies per home-day
	faultRate     float64 // injected device faults per home-day
	check         bool
	dataDir       string    // where the gateway's temporary data folder goes ("": the system's)
	cpuProfile    string    // a CPU profile of the simulated days to this file ("": none)
	progress      io.Writer // a line per simulated day
	// inspect, when set, reads the gateway once the last step's store pass
	// is over, before the report (tests).
	inspect func(ctx context.Context, g *gateway.Gateway, hubs []devices.HubID, now time.Time) error
	log     zerolog.Logger
}

// soakStart is the first simulated midnight (KST): fixed, so that a run
// depends on its flags only, never on the day it is run.
var soakStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.FixedZone("KST", 9*3600))

func cmdSoak(ctx context.Context, args []string, stdout, stderr io.Writer) (failed bool, err error) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o soakOptions
	fs.IntVar(&o.homes, "homes", 5000, "simulated homes")
	fs.IntVar(&o.days, "days", 30, "simulated days per home")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the routines and the injections")
	fs.Float64Var(&o.emergencyRate, "emergency-rate", 0.01, "injected emergencies per home-day (fire, fall, SOS, cardiac, breathing, stopped moving)")
	fs.Float64Var(&o.faultRate, "fault-rate", 0.02, "injected device faults per home-day (battery low, sensor silent, wearable left on the table)")
	fs.BoolVar(&o.check, "check", false, "exit non-zero when a target is missed (an injected emergency undetected, false alarms over the limits, any to 119)")
	_ = fs.Bool("json", true, "print the report as JSON (always)")
	fs.StringVar(&o.dataDir, "data-dir", "", "folder for the gateway's temporary data folder, deleted at the end (default: the system's temporary folder)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the simulated days (the gateway's start and the provisioning excluded) to this file")
	logLevel := fs.String("log-level", "error", "the gateway's log level")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	switch {
	case o.homes <= 0 || o.homes > 50000:
		return false, fmt.Errorf("soak: --homes %d: give 1 to 50000 (the machine is shared)", o.homes)
	case o.days <= 0 || o.days > 366:
		return false, fmt.Errorf("soak: --days %d: give 1 to 366", o.days)
	case o.emergencyRate < 0 || o.emergencyRate > 1 || o.faultRate < 0 || o.faultRate > 1:
		return false, errors.New("soak: --emergency-rate and --fault-rate are probabilities per home-day, 0 to 1")
	}
	lvl, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return false, fmt.Errorf("soak: --log-level: %w", err)
	}
	o.progress = stderr
	o.log = zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()
	rep, err := runSoak(ctx, o)
	if err != nil {
		return false, err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return false, err
	}
	return o.check && len(rep.Failures) > 0, nil
}

// soakClock is the simulated time of the whole gateway
// (gateway.Tuning.Clock): the soak moves it minute by minute, as fast as
// the machine allows.
type soakClock struct{ ms atomic.Int64 }

func (c *soakClock) now() time.Time  { return time.UnixMilli(c.ms.Load()) }
func (c *soakClock) set(t time.Time) { c.ms.Store(t.UnixMilli()) }

// detectionLog keeps every detection the detectors emit, for the report.
type detectionLog struct {
	mu  sync.Mutex
	all []detectors.Detection
}

func (l *detectionLog) Detect(d detectors.Detection) {
	d.Explanation, d.Evidence = detectors.Explanation{}, detectors.Evidence{} // not reported: keep memory small
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

func (l *detectionLog) snapshot() []detectors.Detection {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// stepAckLimit bounds the wall time a step waits for its PUBACKs: far more
// than a loaded machine needs, so that only a lost link trips it.
const stepAckLimit = 5 * time.Minute

// runSoak runs o.homes homes for o.days simulated days through a whole
// in-process gateway (broker, journal, embedded store, detectors,
// dispatch, the CAP client to a mock 119, the fake Twilio) whose one clock
// is the simulated clock, and reports.
//
// Each simulated minute: every home publishes the minute's events and its
// readings batch over MQTT (stamped in simulated time), the soak waits for
// every PUBACK, moves the clock to the end of the minute and steps the
// gateway (gateway.Step: the detectors apply what they were handed and run
// their deadlines, dispatch commits and delivers what fell due). So a run
// is the same at any speed. The soak plays the people who close incidents:
// the responders once an injected emergency is over (help came), the desk
// an hour after an incident no injection explains (a false alarm checked).
func runSoak(ctx context.Context, o soakOptions) (rep *SoakReport, err error) {
	began := time.Now()
	clock := &soakClock{}
	clock.set(soakStart)
	dir, err := os.MkdirTemp(o.dataDir, "dolbom-soak-")
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	defer os.RemoveAll(dir)
	sink := &detectionLog{}
	// The hubs' rate limits count per wall second (they guard the CPU): a
	// soak's hub sends a simulated minute's messages within milliseconds,
	// which they would refuse. Lifted, they decide nothing here.
	bc := broker.Config{ReadingsRate: 1e9, ReadingsBurst: 1 << 20, EventsRate: 1e9, EventsBurst: 1 << 20}
	// Raw readings are kept 6 simulated hours, not 72: a home writes
	// ~0.7 MB of them a day, and the machine's disk is shared.
	gw := &inproc{dir: dir, log: o.log, bc: bc, detect: sink.Detect, tr: &switchTransport{}, clock: clock.now, rawRetention: 6 * time.Hour}
	if err := gw.start(ctx); err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	defer func() {
		if serr := gw.stop(); serr != nil && err == nil {
			err = fmt.Errorf("soak: gateway: %w", serr)
		}
	}()
	ids, secrets, err := provisionHomes(ctx, newStoreProvisioner(gw), o.homes, 0, true, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	// Restarted, the gateway loads the homes and their sensors from the
	// registry as a production gateway does.
	if err := gw.restart(ctx); err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	if err := gw.loaded(ctx); err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	g := gw.gateway()

	homes := make([]firmwaresim.Home, o.homes)
	injected := make([][]firmwaresim.Injection, o.homes)
	acks := newSoakAcks()
	hubs := make([]*soakHub, o.homes)
	for i := range homes {
		homes[i] = firmwaresim.Home{Seed: o.seed, Index: uint32(i), HubBattery: 100, IDPrefix: "s", VitalsEvery: 6 * time.Second}
		injected[i] = homes[i].PlanInjections(soakStart, o.days, o.emergencyRate, o.faultRate)
		hubs[i] = &soakHub{id: ids[i], acks: acks}
		if err := hubs[i].connect(ctx, gw.tr, secrets[i]); err != nil {
			return nil, err
		}
	}
	if err := g.Step(ctx); err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	closer := newSoakCloser(ids, injected)

	// One preparer per core, each with its own homes (each hub's messages
	// stay in order).
	gens := runtime.GOMAXPROCS(0)
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("soak: --cpuprofile: %w", err)
		}
		defer stop()
	}
	minutes := o.days * 24 * 60
	var messages atomic.Int64
	// Wall time by phase of the steps, for the progress lines: where a
	// slow run spends it (publishing, waiting for PUBACKs, Step, closing).
	var wallPub, wallAck, wallStep, wallClose time.Duration
	minuteAt := func(m int) (t, sent time.Time) {
		t = soakStart.Add(time.Duration(m) * time.Minute)
		return t, t.Add(time.Minute)
	}
	// prepare encodes minute m of every home, one goroutine per core each
	// with its own homes, while the gateway works on minute m-1.
	prepare := func(m int) *sync.WaitGroup {
		t, sent := minuteAt(m)
		var pw sync.WaitGroup
		for gi := range gens {
			pw.Go(func() {
				for i := gi; i < len(homes); i += gens {
					hubs[i].prepare(&homes[i], t, sent)
				}
			})
		}
		return &pw
	}
	prepared := prepare(0)
	for m := range minutes {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		_, sent := minuteAt(m)
		t0 := time.Now()
		prepared.Wait()
		// The minute's messages are received at its end, as a batch is:
		// an event is at most a minute older than its receipt, never ahead.
		clock.set(sent)
		n := 0
		for _, h := range hubs {
			k, err := h.send()
			if err != nil {
				return nil, err
			}
			n += k
		}
		messages.Add(int64(n))
		if m+1 < minutes {
			prepared = prepare(m + 1)
		}
		t1 := time.Now()
		if err := acks.wait(ctx, stepAckLimit); err != nil {
			return nil, err
		}
		t2 := time.Now()
		if err := g.Step(ctx); err != nil {
			return nil, fmt.Errorf("soak: %w", err)
		}
		t3 := time.Now()
		if err := closer.close(ctx, g.Dispatch, sent); err != nil {
			return nil, err
		}
		t4 := time.Now()
		wallPub, wallAck, wallStep, wallClose = wallPub+t1.Sub(t0), wallAck+t2.Sub(t1), wallStep+t3.Sub(t2), wallClose+t4.Sub(t3)
		if (m+1)%(24*60) == 0 && o.progress != nil {
			fmt.Fprintf(o.progress, "soak: day %d of %d done, %d messages, %.0f s (publishing %.0f s, PUBACKs %.0f s, Step %.0f s, closing %.0f s)\n",
				(m+1)/(24*60), o.days, messages.Load(), time.Since(began).Seconds(),
				wallPub.Seconds(), wallAck.Seconds(), wallStep.Seconds(), wallClose.Seconds())
		}
	}
	if err := g.StepsDone(ctx); err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	if o.inspect != nil {
		if err := o.inspect(ctx, g, ids, clock.now()); err != nil {
			return nil, err
		}
	}
	rep = soakReport(o, ids, injected, sink.snapshot())
	lookup := func(ctx context.Context, id string) (dispatch.Incident, error) {
		inc, _, err := g.Dispatch.Incident(ctx, id)
		return inc, err
	}
	if err := rep.count119(ctx, lookup, gw.mock119Alerts(), closer); err != nil {
		return nil, err
	}
	rep.judge()
	rep.Messages = messages.Load()
	rep.Refused = acks.refused.Load()
	rep.WallSeconds = time.Since(began).Seconds()
	rep.SimulatedPerWallSecond = float64(minutes*60) / rep.WallSeconds
	return rep, nil
}
