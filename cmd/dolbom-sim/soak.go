package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/health"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// soakOptions are the flags of `dolbom-sim soak`.
type soakOptions struct {
	homes, days   int
	seed          uint64
	emergencyRate float64 // injected emergencies per home-day
	faultRate     float64 // injected device faults per home-day
	check         bool
	log           zerolog.Logger
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
	logLevel := fs.String("log-level", "error", "detectors' log level")
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

// soakClock is the simulated time the detectors read (detectors.Clock):
// the soak moves it minute by minute, as fast as the machine allows.
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

// runSoak runs o.homes homes for o.days simulated days through the rule
// engine and the health monitor, both on the simulated clock, and reports.
//
// The homes' messages go to the detectors directly, as the broker hands
// them on (decoded, stamped received at the simulated time they were
// sent): the broker, the journal and the store keep the wall clock (mochi's
// keepalives, token buckets, the protocol's 7-day horizon), and a month of
// simulated time cannot pass through them in minutes. What decides false
// alarms is the detectors; what reaches 119 is then read off dispatch's
// policies (see reaches119).
func runSoak(ctx context.Context, o soakOptions) (*SoakReport, error) {
	began := time.Now()
	clock := &soakClock{}
	clock.set(soakStart)
	homes := make([]firmwaresim.Home, o.homes)
	hubs := make([]devices.HubID, o.homes)
	injected := make([][]firmwaresim.Injection, o.homes)
	for i := range homes {
		homes[i] = firmwaresim.Home{Seed: o.seed, Index: uint32(i), HubBattery: 100, IDPrefix: "s", VitalsEvery: 6 * time.Second}
		hubs[i] = devices.HubID(fmt.Sprintf("soak-%05d", i))
		injected[i] = homes[i].PlanInjections(soakStart, o.days, o.emergencyRate, o.faultRate)
	}
	layout := firmwaresim.Layout()
	fleet := detectors.FleetFunc(func(_ context.Context, visit func(devices.Hub, []devices.Sensor) error) error {
		for _, hub := range hubs {
			ss := make([]devices.Sensor, len(layout))
			for i, s := range layout {
				s.Hub = hub
				ss[i] = s
			}
			if err := visit(devices.Hub{ID: hub}, ss); err != nil {
				return err
			}
		}
		return nil
	})
	sink := &detectionLog{}
	engine, err := detectors.NewEngine(detectors.EngineConfig{Sink: sink, Fleet: fleet, Logger: o.log, Clock: clock.now,
		NewFallTracker: detectors.WearableFallTrackers(nil)})
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	monitor, err := health.New(health.Config{Sink: sink, Fleet: fleet, Logger: o.log, Clock: clock.now})
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- engine.Run(runCtx) })
	wg.Go(func() { errs <- monitor.Run(runCtx) })
	stopAll := func() error {
		stop()
		wg.Wait()
		close(errs)
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		return errors.Join(all...)
	}
	for _, ch := range []<-chan struct{}{engine.Loaded(), monitor.Loaded()} {
		select {
		case <-ch:
		case <-ctx.Done():
			_ = stopAll()
			return nil, ctx.Err()
		}
	}
	for _, hub := range hubs {
		c := devices.ConnectionEvent{Hub: hub, Connected: true, At: soakStart, Remote: "soak"}
		engine.Connection(c)
		monitor.Connection(c)
	}

	// One generator per core, each with its own homes (so each hub's
	// messages stay in order); a minute's messages are all queued before
	// the detectors' time moves past it.
	gens := runtime.GOMAXPROCS(0)
	minutes := o.days * 24 * 60
	var messages atomic.Int64
	for m := range minutes {
		if m%60 == 0 && ctx.Err() != nil {
			_ = stopAll()
			return nil, ctx.Err()
		}
		t := soakStart.Add(time.Duration(m) * time.Minute)
		sent := t.Add(time.Minute)
		var gw sync.WaitGroup
		for g := range gens {
			gw.Go(func() {
				n := 0
				for i := g; i < len(homes); i += gens {
					h, hub := &homes[i], hubs[i]
					for _, e := range h.Events(nil, t) {
						e.Hub, e.Received = hub, e.At
						msg := &devices.Message{Hub: hub, Channel: devices.ChanEvents, Event: &e}
						engine.Ingest(msg)
						monitor.Ingest(msg)
						n++
					}
					rs := h.Readings(nil, t)
					msg := &devices.Message{Hub: hub, Channel: devices.ChanReadings,
						Readings: &devices.ReadingBatch{Hub: hub, SentAt: sent, Received: sent, Readings: rs}}
					engine.Ingest(msg)
					monitor.Ingest(msg)
					n++
				}
				messages.Add(int64(n))
			})
		}
		gw.Wait()
		clock.set(sent)
		engine.Advance(sent)
		monitor.Advance(sent)
	}
	if err := stopAll(); err != nil { // drains every queue first
		return nil, fmt.Errorf("soak: %w", err)
	}
	rep := soakReport(o, hubs, injected, sink.all)
	rep.Messages = messages.Load()
	rep.WallSeconds = time.Since(began).Seconds()
	rep.SimulatedPerWallSecond = float64(minutes*60) / rep.WallSeconds
	return rep, nil
}
