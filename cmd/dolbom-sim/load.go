package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/cmd/internal/memlimit"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
	"github.com/dolbom/dolbom/internal/memowner"

	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

// LoadReport is the final JSON of `dolbom-sim load`.
type LoadReport struct {
	Homes     int   `json:"homes"`
	Connected int64 `json:"connected"`
	// ConnectSeconds is the time until every home was online, or every
	// place the gateway has (--max-hubs, when fewer than the homes); null
	// if never.
	ConnectSeconds  *float64 `json:"connect_s"`
	DurationS       float64  `json:"duration_s"`
	Speed           float64  `json:"speed"`
	Messages        int64    `json:"messages"`
	MsgsPerS        float64  `json:"msgs_per_s"`
	EmergenciesSent int64    `json:"emergencies_sent"`
	EmergenciesAck  int64    `json:"emergencies_acked"`
	IncidentsOpened *int64   `json:"incidents_opened"`
	// Lost counts injected emergencies that never made it (see Notes for
	// the criterion); emergencies injected into homes the gateway refused
	// at CONNECT for capacity (still refused at the end) are counted in
	// EmergenciesRefusedHubs instead: nobody lost them, they were never let
	// in, and the hub still holds them.
	Lost                   int64                                  `json:"lost"`
	EmergenciesRefusedHubs int64                                  `json:"emergencies_refused_hubs"`
	Duplicates             *int64                                 `json:"duplicates"`
	LatencyMS              map[string]*firmwaresim.LatencySummary `json:"latency_ms"`
	Settings               map[string]any                         `json:"settings"`
	GatewayRSS             int64                                  `json:"gateway_rss_bytes"`
	SimRSS                 int64                                  `json:"sim_rss_bytes"`
	ProcessRSS             int64                                  `json:"process_rss_bytes"`
	SimBytesPerHome        float64                                `json:"sim_bytes_per_home"`
	Notified119            *int64                                 `json:"notified_119"`
	Detections             *DetectionCounts                       `json:"detections,omitempty"`
	Restart                *RestartReport                         `json:"restart,omitempty"`
	// SlowestIncidents are the slowest SOS to reach their incident (not
	// those buffered by hubs while the gateway was down), slowest first,
	// with the second they were published at counted from the process's
	// start: GODEBUG=gctrace=1 counts its "@s" from there too, so a tail
	// can be put beside the collection it fell in.
	SlowestIncidents []SlowIncident `json:"slowest_incidents,omitempty"`
	// StagesMS is each stage of SOSStages (puback, detect, incident,
	// alert_119) over every SOS not buffered by a hub, with all its moments
	// seen: where the incident latency goes.
	StagesMS map[string]*firmwaresim.LatencySummary `json:"stages_ms,omitempty"`
	// GatewayStagesMS is the in-process gateway's own stage histograms
	// (gatewayStageMetrics): where in the gateway a slow PUBACK waited.
	// They count from the gateway's start, the provisioning included.
	GatewayStagesMS map[string]GatewayHistogram `json:"gateway_stages_ms,omitempty"`
	// GatewayStagesRunMS is the same from the first hub's connect on: what
	// the run's SOS can have met. Provisioning writes the registry of every
	// home into dolbom.db first (minutes at national scale), and the
	// checkpoint holds it causes reach no SOS.
	GatewayStagesRunMS map[string]GatewayHistogram `json:"gateway_stages_run_ms,omitempty"`
	SteadyCPU          *SteadyCPU                  `json:"steady_cpu,omitempty"`
	// MemoryByOwner is the live heap by owner and the goroutine stacks at
	// the moment of --memprofile (issue 14: memory per hub by owner).
	MemoryByOwner *memowner.Table   `json:"memory_by_owner,omitempty"`
	Fleet         firmwaresim.Stats `json:"fleet"`
	Machine       Machine           `json:"machine"`
	// GatewayRefused is the in-process gateway's CONNECT refusals by
	// reason (capacity, memory, admission_wait, ...): which guard refused
	// the fleet's refused_connects. Since the last start with --restart-at.
	GatewayRefused map[string]int64 `json:"gateway_connect_refused,omitempty"`
	// GatewayYielded is how many CONNECTs waited at the in-process
	// gateway's door for its cores to clear (--connect-yield-at).
	GatewayYielded int64    `json:"gateway_connects_yielded"`
	Notes          []string `json:"notes"`
	Command        string   `json:"command"`
}

// SteadyCPU is this process's CPU (gateway and simulator; a PostgreSQL
// server is not included) over the steady part of a run: from a minute
// after every home was online (every hub then sends its batch a minute)
// to the end.
type SteadyCPU struct {
	FromS     float64 `json:"from_s"`
	WallS     float64 `json:"wall_s"`
	CPUS      float64 `json:"cpu_s"`
	Cores     float64 `json:"cores"`
	Messages  int64   `json:"messages"`
	CPUUsPerM float64 `json:"cpu_us_per_msg"`
	// SimShare is the simulator's share of the window's CPU profile; the
	// gateway's figures are the rest (cpushare.go: an upper bound, the
	// collector's work being counted as the gateway's). Absent when the
	// whole run was profiled (--cpuprofile without --cpuprofile-steady).
	SimShare      *float64 `json:"sim_share,omitempty"`
	GatewayCores  float64  `json:"gateway_cores,omitempty"`
	GatewayUsPerM float64  `json:"gateway_cpu_us_per_msg,omitempty"`
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// liveBytes is heap objects plus goroutine stacks, after a GC.
func liveBytes() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() + s[1].Value.Uint64())
}

// memStats is the runtime's view of this process's memory, for the progress
// line: at national scale the collector's work (live heap, stacks) decides
// the latency, so it is shown as the run goes.
func memStats() string {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(s)
	return fmt.Sprintf("heap=%dMiB stacks=%dMiB goal=%dMiB gcs=%d goroutines=%d",
		s[0].Value.Uint64()>>20, s[1].Value.Uint64()>>20, s[2].Value.Uint64()>>20, s[3].Value.Uint64(), s[4].Value.Uint64())
}

// DetectionCounts is what the detection tap saw of emergencies.
type DetectionCounts struct {
	Episodes    int64 `json:"episodes"`     // distinct fingerprints that fired
	Updates     int64 `json:"updates"`      // an episode fired again by the same gateway (e.g. hub offline during an SOS)
	Refired     int64 `json:"refired"`      // an episode fired again by a restarted gateway
	Duplicates  int64 `json:"duplicates"`   // an injected event in a second episode
	NotDetected int64 `json:"not_detected"` // injected events the detectors never reported
}

// RestartReport is what `load --restart-at` measured.
type RestartReport struct {
	AtS float64 `json:"at_s"` // run time when the stop began
	// StopS is how long the old gateway took to drain and stop, StartS how
	// long the new one took to serve hubs, ReadyS to be ready (its
	// detectors' saved state loaded: hubs are served meanwhile), BackS from
	// serving until every home was online again (null: not within the run).
	StopS  float64  `json:"stop_s"`
	StartS float64  `json:"start_s"`
	ReadyS float64  `json:"ready_s"`
	BackS  *float64 `json:"back_s"`
	// OutageS is what the hubs saw: from the first hub losing its
	// connection to the new gateway serving them. The old gateway keeps the
	// hubs connected while it saves, so this is shorter than StopS; it is
	// what sets the hubs' reconnect backoff (protocol section 17.1). Null
	// when no hub was seen to drop (the paho client reports no drops).
	OutageS *float64 `json:"outage_s"`
	// Emergencies published while the gateway was down (hubs buffer them)
	// and how many of those reached the detectors.
	BufferedSent      int64 `json:"buffered_emergencies_sent"`
	BufferedDelivered int64 `json:"buffered_emergencies_delivered"`
	BufferedIncidents int64 `json:"buffered_emergencies_incidents"`
	// Refired counts episodes open at the stop that the new gateway fired
	// again with the same fingerprint (one incident for dispatch).
	Refired int64 `json:"refired_same_fingerprint"`
}

// emergencyTracker matches injected emergencies to the detections the
// gateway hands on (the detection tap): by event id, which the detectors
// carry as evidence. An episode is one fingerprint: the detectors fire it
// again when it changes (the hub went offline during an SOS, a restarted
// gateway restoring it), which dispatch folds into the same incident; a
// duplicate is an injected event that shows up in a second episode.
type emergencyTracker struct {
	mu       sync.Mutex
	pending  map[devices.EventID]sentEmergency
	episodes map[devices.EventID]string // injected event -> its episode's fingerprint
	firing   map[string]int             // fingerprint -> the gateway run (epoch) it first fired in
	epoch    int
	// counts; refired is an episode fired again by a restarted gateway,
	// updates one fired again by the same gateway
	sent, detected, opened, duplicates, refired, updates, bufferedSent, bufferedDelivered int64
	steady, buffered                                                                      firmwaresim.Histogram

	// From the incident feed (dispatch): injected events waiting for their
	// incident, the incident each one landed in, incidents seen.
	feed         bool
	pendingInc   map[devices.EventID]sentEmergency
	incidentOf   map[devices.EventID]string
	incidents    map[string]bool   // incident id -> seen
	fpIncident   map[string]string // fingerprint -> first incident id
	incOpened    int64
	incDups      int64
	incSteady    firmwaresim.Histogram
	incOnline    firmwaresim.Histogram // SOS published after every home was online
	allOnline    bool                  // every home has been online (set once)
	incBuffered  firmwaresim.Histogram
	slowest      []SlowIncident
	lastSeq      int64
	sentAtOfInc  map[string]int64 // incident id -> wall ns of its injected event (for notify)
	bufferedInc  map[string]bool
	incDelivered int64
	// times is each injected SOS's moments on its way (load_stages.go).
	times map[devices.EventID]*sosTimes
}

// SlowIncident is one SOS of LoadReport.SlowestIncidents.
type SlowIncident struct {
	AtS     float64         `json:"at_s"` // published, seconds since the process started
	MS      float64         `json:"ms"`   // publish -> incident
	EventID devices.EventID `json:"event_id"`
	// Stages splits MS (nil when a moment was not seen: the paho client
	// reports no PUBACK per event).
	Stages *SOSStages `json:"stages,omitempty"`
}

// slowestKept is how many SlowestIncidents the report lists.
const slowestKept = 8

// processStart is taken when the program's packages initialise, within a
// few milliseconds of the runtime's own start (gctrace's zero).
var processStart = time.Now()

// keepSlowest adds one incident latency to the slowest list (slowest first,
// at most slowestKept).
func keepSlowest(list []SlowIncident, s SlowIncident) []SlowIncident {
	i, _ := slices.BinarySearchFunc(list, s, func(a, b SlowIncident) int { return cmp.Compare(b.MS, a.MS) })
	if i >= slowestKept {
		return list
	}
	list = slices.Insert(list, i, s)
	return list[:min(len(list), slowestKept)]
}

type sentEmergency struct {
	at       int64 // wall ns of the hub's publish call
	hub      int   // index of the home it was injected into
	buffered bool  // published while the gateway was down
	// online: published once every home was online (the steady profile),
	// not during the connect wave, when the two cores are saturated by
	// 300,000 connects.
	online bool
}

func newEmergencyTracker() *emergencyTracker {
	return &emergencyTracker{pending: map[devices.EventID]sentEmergency{}, episodes: map[devices.EventID]string{}, firing: map[string]int{},
		pendingInc: map[devices.EventID]sentEmergency{}, incidentOf: map[devices.EventID]string{}, incidents: map[string]bool{},
		fpIncident: map[string]string{}, sentAtOfInc: map[string]int64{}, bufferedInc: map[string]bool{},
		times: map[devices.EventID]*sosTimes{}}
}

// incident takes one change from dispatch's incident feed.
func (t *emergencyTracker) incident(inc dispatch.Incident) {
	now := time.Now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSeq = max(t.lastSeq, inc.Seq)
	if inc.Class != detectors.ClassEmergency {
		return
	}
	if !t.incidents[inc.ID] {
		t.incidents[inc.ID] = true
		t.incOpened++
		if first, ok := t.fpIncident[inc.Fingerprint]; ok && first != inc.ID {
			t.incDups++ // one episode, two incidents
		} else if !ok {
			t.fpIncident[inc.Fingerprint] = inc.ID
		}
	}
	for _, id := range inc.Evidence.Events {
		s, ok := arrived(id, inc.ID, t.pendingInc, t.incidentOf, &t.incDups) // a dup: one emergency, two incidents
		if !ok {
			continue
		}
		t.sentAtOfInc[inc.ID] = s.at
		if tm := t.times[id]; tm != nil {
			tm.incident = now
		}
		t.incDelivered++
		if s.buffered {
			t.bufferedInc[inc.ID] = true
			t.incBuffered.Record(time.Duration(now - s.at))
		} else {
			t.incSteady.Record(time.Duration(now - s.at))
			t.slowest = keepSlowest(t.slowest, SlowIncident{
				AtS: time.Unix(0, s.at).Sub(processStart).Seconds(), MS: float64(now-s.at) / 1e6, EventID: id})
			if s.online {
				t.incOnline.Record(time.Duration(now - s.at))
			}
		}
	}
}

// followIncidents reads the in-process gateway's incident feed until ctx
// ends, subscribing again (from the last change seen) after a restart or
// when the feed drops a slow reader.
func followIncidents(ctx context.Context, env *inproc, t *emergencyTracker) {
	for ctx.Err() == nil {
		g := env.gateway()
		if g == nil || g.Dispatch == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		t.mu.Lock()
		after := t.lastSeq
		t.mu.Unlock()
		ch, err := g.Dispatch.Subscribe(ctx, after)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for inc := range ch {
			t.incident(inc)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (t *emergencyTracker) sentOne(id devices.EventID, hub int, buffered bool) {
	t.mu.Lock()
	t.pending[id] = sentEmergency{at: time.Now().UnixNano(), hub: hub, buffered: buffered, online: t.allOnline}
	t.pendingInc[id] = t.pending[id]
	t.times[id] = &sosTimes{sent: t.pending[id].at}
	t.sent++
	if buffered {
		t.bufferedSent++
	}
	t.mu.Unlock()
}

// acked notes the moment a hub read the PUBACK of an injected SOS (the
// fleet's Observe, which runs with the hub locked: the tracker's lock is
// taken under a hub's, never the other way round).
func (t *emergencyTracker) acked(id devices.EventID, at int64) {
	t.mu.Lock()
	if tm := t.times[id]; tm != nil && tm.puback == 0 {
		tm.puback = at
	}
	t.mu.Unlock()
}

// stages fills the slowest list's stages and returns every steady SOS's
// (not those buffered by hubs while the gateway was down); firstAlert is
// the mock 119's first alert per incident. Called with t.mu held.
func (t *emergencyTracker) stages(firstAlert map[string]time.Time) []SOSStages {
	of := func(id devices.EventID) (SOSStages, bool) {
		tm := t.times[id]
		if tm == nil {
			return SOSStages{}, false
		}
		var alert int64
		if a, ok := firstAlert[t.incidentOf[id]]; ok {
			alert = a.UnixNano()
		}
		return stagesOf(*tm, alert)
	}
	var all []SOSStages
	for id := range t.times {
		if inc, ok := t.incidentOf[id]; !ok || t.bufferedInc[inc] {
			continue
		}
		if s, ok := of(id); ok {
			all = append(all, s)
		}
	}
	for i := range t.slowest {
		if s, ok := of(t.slowest[i].EventID); ok {
			t.slowest[i].Stages = &s
		}
	}
	return all
}

// detection is the gateway's OnDetection tap; it runs on the detectors'
// goroutines and must stay short.
func (t *emergencyTracker) detection(d detectors.Detection) {
	if d.Class != detectors.ClassEmergency || d.State != detectors.Firing {
		return
	}
	now := time.Now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e, seen := t.firing[d.Fingerprint]; {
	case !seen:
		t.opened++
		t.firing[d.Fingerprint] = t.epoch
	case e == t.epoch:
		t.updates++
	default:
		t.refired++
	}
	for _, id := range d.Evidence.Events {
		s, ok := arrived(id, d.Fingerprint, t.pending, t.episodes, &t.duplicates) // a dup: one emergency, two episodes
		if !ok {
			continue
		}
		t.detected++
		if tm := t.times[id]; tm != nil {
			tm.detect = now
		}
		if s.buffered {
			t.bufferedDelivered++
			t.buffered.Record(time.Duration(now - s.at))
		} else {
			t.steady.Record(time.Duration(now - s.at))
		}
	}
}

// arrived moves the injected event id from pending to landed, where it
// landed in at (an incident, an episode), and returns how it was sent: ok
// is false when id was not injected or has landed already, counting a
// duplicate in dups when that was somewhere else.
func arrived(id devices.EventID, at string, pending map[devices.EventID]sentEmergency, landed map[devices.EventID]string, dups *int64) (sentEmergency, bool) {
	if before, ok := landed[id]; ok {
		if before != at {
			*dups++
		}
		return sentEmergency{}, false
	}
	s, ok := pending[id]
	if !ok {
		return sentEmergency{}, false
	}
	delete(pending, id)
	landed[id] = at
	return s, true
}

// outstanding splits the injected emergencies not yet arrived (at an
// incident with the feed, else at the detectors) into those of homes
// refused at CONNECT (refused says which homes are) and the others.
func (t *emergencyTracker) outstanding(refused func(hub int) bool) (waiting, ofRefused int64) {
	t.mu.Lock()
	pending := t.pending
	if t.feed {
		pending = t.pendingInc
	}
	hubs := make([]int, 0, len(pending))
	for _, s := range pending {
		hubs = append(hubs, s.hub)
	}
	t.mu.Unlock()
	// Asked outside t.mu: a hub's lock is never taken under the tracker's.
	for _, h := range hubs {
		if refused(h) {
			ofRefused++
		} else {
			waiting++
		}
	}
	return waiting, ofRefused
}

func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	f, err := parseLoadFlags(args, &c)
	if err != nil {
		return err
	}
	if f.memProfile != "" {
		// One sample per 64 KiB instead of 512 KiB: the per-hub objects are
		// ~100 B, and the owner table should be within a few percent. At
		// most that: a finer rate already set stays (TestLoadSmall's 200
		// hubs, ~100 KB, could go unsampled at 64 KiB).
		runtime.MemProfileRate = min(runtime.MemProfileRate, 64<<10)
	}
	maxHubs, maxHubsHow, err := f.capacity(c)
	if err != nil {
		return err
	}
	log := c.logger(stderr)
	withSensors := f.sensors == "yes" || (f.sensors == "auto" && f.homes <= 20000)
	track := newEmergencyTracker()
	c.onDetection = track.detection
	guard, err := broker.MemoryGuard(f.highWater)
	if err != nil {
		return fmt.Errorf("--memory-high-water %w", err)
	}
	bc := broker.Config{MaxHubs: max(maxHubs, 0), MemoryHighWater: guard, BusyWait: f.busyWait, ConnectYieldAt: f.connectYieldAt}
	tr, prov, _, env, cleanup, err := c.setup(ctx, stderr, bc, true)
	if err != nil {
		return err
	}
	defer cleanup()
	r := &loadRun{f: f, c: c, stderr: stderr, log: log, track: track, env: env, expected: f.expectedOnline(maxHubs)}
	rep := f.newReport(args, withSensors, maxHubs, maxHubsHow)

	if env != nil {
		track.feed = true
		fctx, stopFollowing := context.WithCancel(ctx)
		defer stopFollowing()
		go followIncidents(fctx, env, track)
	}
	ids, secrets, err := provisionHomes(ctx, prov, f.homes, f.offset, withSensors, stderr)
	if err != nil {
		return err
	}
	if env != nil {
		r.stagesBase = gatewayHistograms(env.gateway())
	}
	stopProfile, err := r.startCPUProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	before := liveBytes()
	if err := r.addHubs(tr, ids, secrets); err != nil {
		return err
	}
	r.start = time.Now()
	rep.SimBytesPerHome = float64(liveBytes()-before) / float64(f.homes)

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	// The label tells the simulator's CPU from the gateway's in a profile
	// (go tool pprof -tagfocus part=simulator): steady_cpu counts both.
	simLabels := pprof.Labels(simLabelKey, simLabelValue)
	go pprof.Do(rctx, simLabels, func(ctx context.Context) { r.fleet.Run(ctx); close(done) })

	ictx, stopInjecting := context.WithCancel(rctx)
	defer stopInjecting()
	injected := make(chan struct{})
	go pprof.Do(ictx, simLabels, func(ictx context.Context) {
		defer close(injected)
		injectEmergencies(ictx, r.hubs, f.emergRate, c.seed, r.start, r.clock, r.track, &r.gatewayDown)
	})

	restartDone := r.restartLater(ctx, rctx)
	if err := r.watch(ctx, restartDone, &rep); err != nil {
		return err
	}
	st := r.fleet.Stats()
	elapsed := time.Since(r.start).Seconds()
	rep.ProcessRSS = rss()
	r.steadyCPUReport(&rep, st)
	if f.memProfile != "" && f.memProfileAt <= 0 {
		if err := writeHeapProfile(f.memProfile); err != nil {
			return err
		}
		rep.MemoryByOwner = memoryByOwner(stderr, f.homes)
	}
	stopInjecting()
	<-injected
	lost, ofRefused := r.drainEmergencies(ctx)
	cancel()
	<-done
	inc := r.fillReport(&rep, st, elapsed, lost, ofRefused)
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printLoadReport(stdout, &rep, st, inc)
	return nil
}

// loadFlags are load's command-line flags.
type loadFlags struct {
	homes, maxConnecting, offset            int
	duration, memProfileAt, restartAt       time.Duration
	drain, busyWait, connectYieldAt         time.Duration
	speed, rate, emergRate, highWater       float64
	asJSON, cpuProfileSteady                bool
	memProfileSteady                        bool
	sensors, cpuProfile, memProfile, client string
	maxHubs                                 string
}

func parseLoadFlags(args []string, c *common) (loadFlags, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	c.register(fs)
	var f loadFlags
	fs.IntVar(&f.homes, "homes", 1000, "number of homes")
	fs.DurationVar(&f.duration, "duration", time.Minute, "how long to run after the first connect")
	fs.Float64Var(&f.speed, "speed", 1, "simulated time per wall time (readings carry event time)")
	// 10,000/s by default: 300,000 homes must be able to connect within the
	// 60 s target, which 5,000/s alone would take (the gateway's admission
	// control paces the rest).
	fs.Float64Var(&f.rate, "connect-rate", 10000, "hub connects per second")
	fs.IntVar(&f.maxConnecting, "max-connecting", 1000, "hubs between dial and CONNACK at once (the simulator's pacing)")
	fs.Float64Var(&f.emergRate, "emergency-rate", 1, "SOS events per second across the fleet, each on a different home")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&f.sensors, "sensors", "auto", "register every home's sensors: yes, no, auto (yes up to 20,000 homes)")
	fs.IntVar(&f.offset, "offset", 0, "first home index (several processes share one gateway)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (provisioning excluded) to this file; the simulator's goroutines carry the label part=simulator")
	// The steady window is what steady_cpu measures: a profile of it shows
	// where that CPU goes, without the connect wave's.
	fs.BoolVar(&f.cpuProfileSteady, "cpuprofile-steady", false, "with --cpuprofile: profile only the steady window (steady_cpu's, which is always profiled in memory for the gateway's share), not the whole run")
	fs.StringVar(&f.memProfile, "memprofile", "", "write a heap profile at the end of the run (before the drain) to this file")
	// A profile at the end shows what the run allocated in all; one taken
	// at a chosen moment shows what a burst holds while it lasts.
	fs.DurationVar(&f.memProfileAt, "memprofile-at", 0, "with --memprofile: write the heap profile at this run time instead of at the end")
	// What the steady state allocates sets how often the collector runs
	// there, and so most of steady_cpu's swings between runs.
	fs.BoolVar(&f.memProfileSteady, "memprofile-steady", false, "with --memprofile: also write FILE.steady-base at the start of the steady window; `go tool pprof -sample_index=alloc_space -base FILE.steady-base FILE` shows what the steady window allocated")
	fs.DurationVar(&f.restartAt, "restart-at", 0, "in-process: stop the gateway at this run time and start it again on the same data dir")
	fs.StringVar(&f.client, "client", "raw", "hub client: raw (cheap MQTT frames, national scale) or paho (Eclipse paho, ~33 KB per hub: small realistic runs)")
	fs.DurationVar(&f.drain, "drain", 30*time.Second, "after the run, how long to wait for emergencies still on their way")
	fs.DurationVar(&f.busyWait, "busy-wait", broker.DefaultBusyWait, "in-process gateway: its load guard (as dolbomd --busy-wait); 0: no guard")
	fs.DurationVar(&f.connectYieldAt, "connect-yield-at", broker.DefaultConnectYieldAt, "in-process gateway: new CONNECTs wait while the cores are saturated (as dolbomd --connect-yield-at); 0: never")
	fs.Float64Var(&f.highWater, "memory-high-water", 0.8, "in-process gateway: its memory guard (as dolbomd --memory-high-water; it counts the simulator's memory too); 0: no guard")
	fs.StringVar(&f.maxHubs, "max-hubs", memlimit.MaxHubsAuto, "in-process gateway: hubs it carries, refusing the rest at CONNECT (as dolbomd --max-hubs): a number, unlimited, or auto (derived from memory)")
	return f, fs.Parse(args)
}

// capacity is the hubs the in-process gateway carries (-1: set on the
// target gateway) and how that was decided.
func (f *loadFlags) capacity(c common) (maxHubs int, how string, err error) {
	if f.restartAt > 0 && c.target != "" {
		return 0, "", errors.New("--restart-at needs the in-process gateway")
	}
	if c.target != "" {
		if f.maxHubs != memlimit.MaxHubsAuto {
			return 0, "", errors.New("--max-hubs sets the in-process gateway's capacity; with --target set it on that dolbomd")
		}
		return -1, "set on the target gateway (dolbomd --max-hubs)", nil
	}
	if maxHubs, how, err = memlimit.ResolveMaxHubs(f.maxHubs, c.databaseURL == ""); err != nil {
		return 0, "", fmt.Errorf("--max-hubs %w", err)
	}
	return maxHubs, how, nil
}

// expectedOnline is the homes expected online: all of them, or the
// gateway's places.
func (f *loadFlags) expectedOnline(maxHubs int) int64 {
	if maxHubs > 0 && maxHubs < f.homes {
		return int64(maxHubs)
	}
	return int64(f.homes)
}

func (f *loadFlags) newReport(args []string, withSensors bool, maxHubs int, maxHubsHow string) LoadReport {
	return LoadReport{Homes: f.homes, Speed: f.speed, Command: "dolbom-sim load " + strings.Join(args, " "),
		LatencyMS: map[string]*firmwaresim.LatencySummary{},
		Settings: map[string]any{"connect_rate": f.rate, "max_connecting": f.maxConnecting, "emergency_rate": f.emergRate,
			"sensors":    withSensors,
			"gomaxprocs": runtime.GOMAXPROCS(0), "max_hubs": maxHubs},
		Machine: thisMachine(maxHubs, maxHubsHow)}
}

// loadRun is one load run's state, shared by its steps.
type loadRun struct {
	f        loadFlags
	c        common
	stderr   io.Writer
	log      zerolog.Logger
	track    *emergencyTracker
	env      *inproc // nil against --target
	expected int64

	clock       firmwaresim.Clock
	fleet       loadFleet
	hubs        []loadHub
	start       time.Time
	gatewayDown atomic.Bool
	firstDrop   atomic.Int64 // unix ns of the first hub disconnect after a restart began

	// The restart (--restart-at): set before restartDone is sent.
	restart   *RestartReport
	readyAt   time.Time
	restarted bool

	// What the watch loop measured.
	allOnline         *float64
	memProfileWritten bool
	steadyProfPath    string
	steadyProf        steadyProfile
	steadyAt          time.Time
	steadyWall        time.Time
	steadyCPU         time.Duration
	steadyMsgs        int64
	// stagesBase is the first gateway's gatewayHistograms once
	// provisioned (LoadReport.GatewayStagesRunMS). Not the gateway itself:
	// held for the run, a restarted one (its hubs' sessions, its
	// detectors' state) stayed in memory beside the new one, which then
	// collected against twice the live heap (TestRestartReleasesOldGateway).
	stagesBase map[string]*dto.Histogram
}

// startCPUProfile starts --cpuprofile for the whole run, or notes its path
// for the steady window only; the steady window is profiled for
// steady_cpu's gateway share (cpushare.go) unless the whole run is.
func (r *loadRun) startCPUProfile() (stop func(), err error) {
	switch {
	case r.f.cpuProfile != "" && r.f.cpuProfileSteady:
		r.steadyProfPath = r.f.cpuProfile
	case r.f.cpuProfile != "":
		return startCPUProfile(r.f.cpuProfile)
	}
	return func() {}, nil
}

// addHubs builds the fleet of --client with one hub per home; raw hubs are
// started paced at --connect-rate.
func (r *loadRun) addHubs(tr firmwaresim.Transport, ids []devices.HubID, secrets []string) error {
	f, c := &r.f, &r.c
	r.clock = firmwaresim.NewClock(time.Now(), f.speed, f.duration)
	switch f.client {
	case "raw":
		fleet := firmwaresim.NewFleet(firmwaresim.Options{Transport: tr, Clock: r.clock, Seed: c.seed, Version: c.version(),
			MaxConnecting: f.maxConnecting, IDPrefix: fmt.Sprintf("L%x-", time.Now().Unix()), Logger: r.log,
			Observe: func(e firmwaresim.HubEvent) {
				switch {
				case e.Kind == firmwaresim.EvDisconnected && r.gatewayDown.Load():
					r.firstDrop.CompareAndSwap(0, time.Now().UnixNano())
				case e.Kind == firmwaresim.EvAcked && e.EventID != "":
					r.track.acked(e.EventID, time.Now().UnixNano())
				}
			}})
		start := time.Now()
		for i := range f.homes {
			h := fleet.Add(ids[i], secrets[i], uint32(f.offset+i))
			fleet.Start(h, start.Add(time.Duration(float64(i)/f.rate*float64(time.Second))))
			r.hubs = append(r.hubs, h)
		}
		r.fleet = fleet
	case "paho":
		fleet := firmwaresim.NewPahoFleet(firmwaresim.PahoOptions{Dial: connDialer(*c, r.env), Clock: r.clock, Seed: c.seed,
			ConnectRate: f.rate, Logger: r.log})
		for i := range f.homes {
			r.hubs = append(r.hubs, fleet.Add(ids[i], secrets[i], uint32(f.offset+i)))
		}
		r.fleet = fleet
	default:
		return fmt.Errorf("--client %q: want raw or paho", f.client)
	}
	return nil
}

// restartLater stops the in-process gateway at --restart-at and starts it
// again on the same data dir, measuring each part; the channel gets the
// outcome (nil when the run ended first). No restart: a channel never sent.
func (r *loadRun) restartLater(ctx, rctx context.Context) <-chan error {
	restartDone := make(chan error, 1)
	if r.f.restartAt <= 0 || r.env == nil {
		return restartDone
	}
	go func() {
		select {
		case <-rctx.Done():
			restartDone <- nil
			return
		case <-time.After(time.Until(r.start.Add(r.f.restartAt))):
		}
		rr := &RestartReport{AtS: time.Since(r.start).Seconds()}
		r.gatewayDown.Store(true)
		t0 := time.Now()
		if err := r.env.stop(); err != nil {
			r.log.Warn().Err(err).Msg("gateway stopped with an error")
		}
		rr.StopS = time.Since(t0).Seconds()
		r.track.mu.Lock()
		r.track.epoch++
		r.track.mu.Unlock()
		t1 := time.Now()
		err := r.env.start(ctx)
		rr.StartS = time.Since(t1).Seconds()
		r.gatewayDown.Store(false)
		r.restart = rr
		r.readyAt = time.Now()
		if d := r.firstDrop.Load(); d != 0 {
			v := r.readyAt.Sub(time.Unix(0, d)).Seconds()
			rr.OutageS = &v
		}
		if err == nil {
			err = r.env.loaded(ctx)
			rr.ReadyS = time.Since(t1).Seconds()
		}
		restartDone <- err
	}()
	return restartDone
}

// watch runs until --duration has passed: every 2 s it prints a progress
// line, notes when every home is online (the steady window begins a minute
// later), starts steady_cpu's measure, writes a heap profile at
// --memprofile-at, and times the homes' return after a restart.
func (r *loadRun) watch(ctx context.Context, restartDone <-chan error, rep *LoadReport) error {
	f := &r.f
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	end := r.start.Add(f.duration)
	var lastPub int64
	lastCPU := cpuTime()
	lastT := r.start
	for time.Now().Before(end) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		case err := <-restartDone:
			if err != nil {
				return fmt.Errorf("restart: %w", err)
			}
			r.restarted = r.restart != nil
		}
		st := r.fleet.Stats()
		now := time.Now()
		if f.memProfile != "" && f.memProfileAt > 0 && !r.memProfileWritten && now.Sub(r.start) >= f.memProfileAt {
			r.memProfileWritten = true
			if err := writeHeapProfile(f.memProfile); err != nil {
				return err
			}
			fmt.Fprintf(r.stderr, "heap profile written to %s at t=%.0fs\n", f.memProfile, now.Sub(r.start).Seconds())
			rep.MemoryByOwner = memoryByOwner(r.stderr, f.homes)
		}
		if r.allOnline == nil && st.Online >= r.expected {
			v := now.Sub(r.start).Seconds()
			r.allOnline = &v
			r.steadyAt = now.Add(time.Minute)
			r.track.mu.Lock()
			r.track.allOnline = true
			r.track.mu.Unlock()
		}
		if !r.steadyAt.IsZero() && r.steadyCPU == 0 && now.After(r.steadyAt) && !r.restarted {
			r.steadyCPU, r.steadyMsgs, r.steadyWall = cpuTime(), st.Published, now
			if r.steadyProfPath != "" || (f.cpuProfile == "" && r.c.target == "") {
				r.steadyProf.start()
			}
			if f.memProfile != "" && f.memProfileSteady {
				// The heap profile's allocations count from the process's
				// start; this one, subtracted, leaves the steady window's.
				// No collection is forced for it (it would be the
				// window's CPU): it counts up to the last one.
				if err := writeHeapProfileAsIs(f.memProfile + ".steady-base"); err != nil {
					return err
				}
			}
		}
		if r.restarted && r.restart.BackS == nil && st.Online >= r.expected {
			v := now.Sub(r.readyAt).Seconds()
			r.restart.BackS = &v
		}
		r.track.mu.Lock()
		inc := r.track.incSteady.Summary()
		opened := r.track.incOpened
		r.track.mu.Unlock()
		cpu := cpuTime()
		fmt.Fprintf(r.stderr, "t=%4.0fs online=%d/%d msgs/s=%.0f emergencies=%d incidents=%d incident_ms p99=%.1f puback_ms p50=%.2f p99=%.2f rss=%dMiB cpu=%.2f %s\n",
			now.Sub(r.start).Seconds(), st.Online, f.homes, float64(st.Published-lastPub)/now.Sub(lastT).Seconds(), st.Emergencies,
			opened, inc.P99, st.Puback.P50, st.Puback.P99, rss()>>20, (cpu-lastCPU).Seconds()/now.Sub(lastT).Seconds(), memStats())
		lastPub, lastT, lastCPU = st.Published, now, cpu
	}
	return nil
}

// steadyCPUReport is steady_cpu: the CPU of the steady window (from a
// minute after every home was online to the end of the run), split between
// the simulator and the gateway by the window's profile.
func (r *loadRun) steadyCPUReport(rep *LoadReport, st firmwaresim.Stats) {
	if r.steadyCPU <= 0 {
		return
	}
	wall, cpu := time.Since(r.steadyWall).Seconds(), (cpuTime() - r.steadyCPU).Seconds()
	sc := &SteadyCPU{FromS: r.steadyWall.Sub(r.start).Seconds(), WallS: wall, CPUS: cpu, Cores: cpu / wall,
		Messages: st.Published - r.steadyMsgs}
	if sc.Messages > 0 {
		sc.CPUUsPerM = cpu * 1e6 / float64(sc.Messages)
	}
	if r.steadyProf.running {
		// The window ends here: not the drain, nor the shutdown.
		share, err := r.steadyProf.stop(r.steadyProfPath)
		switch {
		case r.c.target != "":
			// This process is the simulator alone: no gateway share.
		case err != nil:
			rep.Notes = append(rep.Notes, "steady_cpu: no gateway share: "+err.Error())
		default:
			sc.SimShare = &share
			sc.GatewayCores = sc.Cores * (1 - share)
			sc.GatewayUsPerM = sc.CPUUsPerM * (1 - share)
		}
	}
	rep.SteadyCPU = sc
}

// drainEmergencies gives emergencies still on their way (in a hub's queue,
// in flight, in the detectors) --drain to arrive before they count as lost.
// Those of homes refused at CONNECT are not waited for: their hubs hold
// them until the gateway lets them in, which a full one does not.
func (r *loadRun) drainEmergencies(ctx context.Context) (lost, ofRefused int64) {
	refusedHome := func(i int) bool { return r.hubs[i].Refused() && !r.hubs[i].Online() }
	for t := time.Now(); time.Since(t) < r.f.drain && ctx.Err() == nil; {
		if waiting, _ := r.track.outstanding(refusedHome); waiting == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return r.track.outstanding(refusedHome)
}

// fillReport fills the report from the fleet's stats, the tracker and the
// mock 119; it returns the incident latencies (for the text summary).
func (r *loadRun) fillReport(rep *LoadReport, st firmwaresim.Stats, elapsed float64, lost, ofRefused int64) firmwaresim.LatencySummary {
	env, track := r.env, r.track
	rep.Connected = st.Online
	rep.ConnectSeconds = r.allOnline
	rep.DurationS = elapsed
	rep.Messages = st.Published
	rep.MsgsPerS = float64(st.Published) / elapsed
	rep.EmergenciesAck = st.EmergencyPuback.N
	rep.Fleet = st
	pb := st.Puback
	rep.LatencyMS["puback"] = &pb
	// The mock 119's first alert per incident (notify, and the stages'
	// last leg).
	first := map[string]time.Time{}
	if env != nil {
		for _, a := range env.mock119Alerts() {
			if t, ok := first[a.IncidentID]; a.IncidentID != "" && (!ok || a.ReceivedAt.Before(t)) {
				first[a.IncidentID] = a.ReceivedAt
			}
		}
	}
	track.mu.Lock()
	if env != nil {
		rep.StagesMS = stageSummaries(track.stages(first))
	}
	rep.EmergenciesSent = track.sent
	det := track.steady.Summary()
	rep.LatencyMS["detection"] = &det
	inc := track.incSteady.Summary()
	rep.LatencyMS["incident"] = &inc
	incOnline := track.incOnline.Summary()
	rep.LatencyMS["incident_all_online"] = &incOnline
	rep.SlowestIncidents = slices.Clone(track.slowest)
	rep.Lost, rep.EmergenciesRefusedHubs = lost, ofRefused
	opened, dups := track.incOpened, track.incDups
	rep.Detections = &DetectionCounts{Episodes: track.opened, Updates: track.updates, Refired: track.refired,
		Duplicates: track.duplicates, NotDetected: int64(len(track.pending))}
	if restart := r.restart; restart != nil {
		restart.BufferedSent, restart.BufferedDelivered = track.bufferedSent, track.bufferedDelivered
		restart.BufferedIncidents = int64(len(track.bufferedInc))
		restart.Refired = track.refired
		bl := track.incBuffered.Summary()
		rep.LatencyMS["incident_buffered"] = &bl
		rep.Restart = restart
	}
	sentAt := maps.Clone(track.sentAtOfInc)
	buffered := maps.Clone(track.bufferedInc)
	track.mu.Unlock()
	rep.IncidentsOpened, rep.Duplicates = &opened, &dups
	if env == nil {
		rep.IncidentsOpened, rep.Duplicates, rep.LatencyMS["incident"], rep.LatencyMS["detection"] = nil, nil, nil, nil
		rep.LatencyMS["incident_all_online"] = nil
		rep.LatencyMS["notify"] = nil
		rep.Lost = max(rep.EmergenciesSent-rep.EmergenciesAck-rep.EmergenciesRefusedHubs, 0)
		rep.Notes = append(rep.Notes, "against --target: no incident feed here, so lost counts emergencies without a PUBACK, less those of homes refused at CONNECT")
	} else {
		notifyLatency(rep, sentAt, buffered, first)
	}
	if env != nil {
		rep.GatewayRefused = connectRefusals(env.gateway())
		rep.GatewayYielded = connectsYielded(env.gateway())
		g := env.gateway()
		rep.GatewayStagesMS = gatewayStages(g, nil)
		// After a restart the gateway is a new one, started after the
		// provisioning: all it counted is the run's.
		if !r.restarted {
			rep.GatewayStagesRunMS = gatewayStages(g, r.stagesBase)
		} else {
			rep.GatewayStagesRunMS = rep.GatewayStagesMS
		}
		rep.SimRSS = int64(rep.SimBytesPerHome * float64(r.f.homes))
		rep.GatewayRSS = rep.ProcessRSS - rep.SimRSS
		rep.Notes = append(rep.Notes, "in-process: gateway and simulator share one process; sim_rss_bytes is sim_bytes_per_home (live heap and stacks the fleet holds for its hubs, measured after GC before they connect) times homes; the connected cost is BenchmarkFleetConnected in firmware-sim; gateway_rss_bytes is the rest of the process RSS")
	} else {
		rep.SimRSS = rep.ProcessRSS
	}
	if r.f.client == "paho" && r.expected < int64(r.f.homes) {
		rep.Notes = append(rep.Notes, "paho hubs: paho does not say why a connect failed, so homes refused at CONNECT are not told apart (their SOS count as lost, refused_connects stays 0), and paho retries a first connect every second rather than with the backoff of protocol 17.1: use --client raw for overload runs")
	}
	return inc
}

// notifyLatency is notify: the injected event's publish until the mock 119
// received the incident's first CAP Alert; and the notes on the
// in-process figures.
func notifyLatency(rep *LoadReport, sentAt map[string]int64, buffered map[string]bool, first map[string]time.Time) {
	var notify firmwaresim.Histogram
	var notified int64
	for id, at := range sentAt {
		if r, ok := first[id]; ok && !buffered[id] {
			notify.Record(r.Sub(time.Unix(0, at)))
		}
		if _, ok := first[id]; ok {
			notified++
		}
	}
	ns := notify.Summary()
	rep.LatencyMS["notify"] = &ns
	rep.Notified119 = &notified
	rep.Notes = append(rep.Notes,
		"latencies run from the hub's publish call; incident covers every SOS not buffered by a hub while the gateway was down, incident_all_online only those published after every home was online (the steady profile, without the connect wave); detection to the gateway's OnDetection tap, incident to the incident's first change on dispatch's feed (Dispatcher.Subscribe), notify to the mock 119 receiving the incident's CAP alert (SOS goes to 119 at once; simulated residents have no guardians, so Twilio is not reached)",
		"incidents_opened counts emergency incidents, the generated days' own included; duplicates counts an injected emergency or an episode fingerprint landing in a second incident; lost counts injected SOS events with no incident after the drain, but for those of homes refused at CONNECT (fleet.refused_hubs, still refused at the end), which emergencies_refused_hubs counts: their hubs hold them",
		"stages_ms and slowest_incidents[].stages split publish -> incident: puback (the hub read its PUBACK), detect (the detection tap), incident (dispatch's feed), then alert_119 (the mock 119's receipt after the incident); a stage that overlapped the one before (they run on different goroutines) counts 0, so the first three add up to the incident latency")
}

// printLoadReport is the text summary of a run (without --json).
func printLoadReport(stdout io.Writer, rep *LoadReport, st firmwaresim.Stats, inc firmwaresim.LatencySummary) {
	pb := st.Puback
	fmt.Fprintf(stdout, "%d/%d homes online, %.0f msgs/s, puback p50 %.2f ms p99 %.2f ms, emergencies %d (lost %d), incident p99 %.1f ms, rss %d MiB\n",
		rep.Connected, rep.Homes, rep.MsgsPerS, pb.P50, pb.P99, rep.EmergenciesSent, rep.Lost, inc.P99, rep.ProcessRSS>>20)
	if st.RefusedHubs > 0 || st.RefusedConnects > 0 {
		fmt.Fprintf(stdout, "refused at CONNECT (busy): %d homes, %d attempts; their emergencies: %d (held by their hubs, not lost)\n",
			st.RefusedHubs, st.RefusedConnects, rep.EmergenciesRefusedHubs)
	}
	if sm := rep.StagesMS; sm != nil && sm["puback"].N > 0 {
		fmt.Fprintf(stdout, "SOS stages p50/p99 ms: publish->puback %.1f/%.1f, puback->detection %.1f/%.1f, detection->incident %.1f/%.1f, incident->119 %.1f/%.1f\n",
			sm["puback"].P50, sm["puback"].P99, sm["detect"].P50, sm["detect"].P99, sm["incident"].P50, sm["incident"].P99, sm["alert_119"].P50, sm["alert_119"].P99)
	}
	if gs := rep.GatewayStagesRunMS; gs != nil {
		lock, held := gs["journal_lock"], gs["wal_checkpoint_held"]
		fmt.Fprintf(stdout, "gateway, from the first connect: journal lock wait p99 %.1f ms (%d events over 50 ms), WAL checkpoint held p99 %.1f ms (%d of %d passes over 50 ms)\n",
			lock.P99, lock.Over50, held.P99, held.Over50, held.N)
	}
	for _, si := range rep.SlowestIncidents {
		if s := si.Stages; s != nil {
			fmt.Fprintf(stdout, "slow SOS at %.1f s: %.1f ms = puback %.1f + detection %.1f + incident %.1f ms%s\n",
				si.AtS, si.MS, s.PubackMS, s.DetectMS, s.IncidentMS, alertText(s.Alert119MS))
		}
	}
	fmt.Fprintln(stdout, rep.Machine)
}

func alertText(ms *float64) string {
	if ms == nil {
		return ", no 119 alert"
	}
	return fmt.Sprintf(", then 119 %.1f ms", *ms)
}

// gatewayMetrics calls fn with each of the in-process gateway's metric
// families (nothing when there is no gateway or its registry fails).
func gatewayMetrics(g *gateway.Gateway, fn func(*dto.MetricFamily)) {
	if g == nil {
		return
	}
	mfs, err := g.Registry.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		fn(mf)
	}
}

// connectRefusals reads the gateway's connect_refused_total by reason.
func connectRefusals(g *gateway.Gateway) map[string]int64 {
	if g == nil {
		return nil
	}
	out := map[string]int64{}
	gatewayMetrics(g, func(mf *dto.MetricFamily) {
		if mf.GetName() != "dolbom_broker_connect_refused_total" {
			return
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					out[l.GetValue()] = int64(m.GetCounter().GetValue())
				}
			}
		}
	})
	return out
}

// connectsYielded reads the gateway's connects_yielded_total.
func connectsYielded(g *gateway.Gateway) (n int64) {
	if g == nil {
		return 0
	}
	gatewayMetrics(g, func(mf *dto.MetricFamily) {
		if mf.GetName() == "dolbom_broker_connects_yielded_total" {
			for _, m := range mf.GetMetric() {
				n += int64(m.GetCounter().GetValue())
			}
		}
	})
	return n
}

// loadFleet and loadHub are what load needs of either kind of fleet.
type loadFleet interface {
	Run(ctx context.Context) error
	Stats() firmwaresim.Stats
}

type loadHub interface {
	Publish(devices.Event)
	Online() bool
	Refused() bool // its last CONNECT was refused busy (always false on paho)
}

// connDialer opens net.Conns for paho hubs: a pipe into the in-process
// gateway's current listener, or TCP to --target.
func connDialer(c common, env *inproc) func(ctx context.Context) (net.Conn, error) {
	if env != nil {
		return env.tr.DialConn
	}
	addr := targetAddr(c.target)
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// provisionHomes registers the homes on 16 goroutines (PostgreSQL commits
// concurrent inserts together; SQLite's one writer just queues them).
func provisionHomes(ctx context.Context, prov provisioner, homes, offset int, withSensors bool, stderr io.Writer) ([]devices.HubID, []string, error) {
	ids := make([]devices.HubID, homes)
	secrets := make([]string, homes)
	var next atomic.Int64
	var perr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= homes || ctx.Err() != nil {
					return
				}
				ids[i] = devices.HubID(fmt.Sprintf("sim-%07d", offset+i))
				s, err := prov.provision(ctx, ids[i], withSensors)
				if err != nil {
					perr.Store(err)
					return
				}
				secrets[i] = s
				if i%50000 == 49999 {
					fmt.Fprintf(stderr, "provisioned %d homes in %.0fs\n", i+1, time.Since(t0).Seconds())
				}
			}
		})
	}
	wg.Wait()
	if e, ok := perr.Load().(error); ok {
		return nil, nil, fmt.Errorf("provision: %w", e)
	}
	fmt.Fprintf(stderr, "provisioned %d homes in %.1fs (sensors registered: %v)\n", homes, time.Since(t0).Seconds(), withSensors)
	return ids, secrets, nil
}

// injectEmergencies publishes SOS events at rate per second, each on a home
// not used before (a second SOS in an open episode updates it rather than
// opening one, so it could not be told from a loss). While the gateway is
// down the hubs buffer them (store and forward).
//
// The gaps are random (exponential, mean 1/rate, from the seed), as real
// emergencies come: SOS on a fixed tick kept one phase against the
// gateway's own periodic work (the detectors' saves every 5 s), so a run's
// tail depended on that phase: one run had its eight slowest SOS all on the
// saves' tick, the next none (docs/performance.md, "Where a slow SOS spends
// its time").
func injectEmergencies(ctx context.Context, hubs []loadHub, rate float64, seed uint64, start time.Time,
	clock firmwaresim.Clock, track *emergencyTracker, gatewayDown *atomic.Bool) {
	if rate <= 0 {
		return
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	order := rng.Perm(len(hubs))
	t := time.NewTimer(0)
	defer t.Stop()
	for n := 0; n < len(order); n++ {
		t.Reset(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := hubs[order[n]]
		id := devices.EventID(fmt.Sprintf("x%x-%d", start.Unix(), n))
		down := gatewayDown.Load() || !h.Online()
		track.sentOne(id, order[n], down)
		h.Publish(devices.Event{ID: id, Kind: devices.EventSOS, Sensor: firmwaresim.SensorPendant, At: clock.Sim(time.Now())})
	}
}

// memoryByOwner prints and returns the live heap by owner and the stacks
// per home: the gateway's parts and the simulator's hubs, which share this
// process, each on their own line.
func memoryByOwner(stderr io.Writer, homes int) *memowner.Table {
	t := memowner.Take()
	fmt.Fprintf(stderr, "memory by owner at %d homes:\n", homes)
	t.Write(stderr, homes)
	return &t
}

// writeHeapProfile writes the live heap (after a GC) to file.
func writeHeapProfile(file string) error {
	runtime.GC()
	return writeHeapProfileAsIs(file)
}

// writeHeapProfileAsIs writes the heap profile as of the last collection.
func writeHeapProfileAsIs(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
