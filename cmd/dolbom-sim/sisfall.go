package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/fall/falleval"
	"github.com/dolbom/dolbom/devices"
)

// SisFallReport is the JSON of `dolbom-sim sisfall`: every trial replayed
// through the real path (a wearable publishing its accelerometer over MQTT
// to an in-process gateway, the broker, the rule engine and its fall
// tracker) and classified by what came back: a fall emergency (a `fall`
// detection the wearer did not get up from before the trial ended) and a
// welfare "fell and got up" (`fall_recovered`) are counted apart, and a trial
// counts as detected when either came.
type SisFallReport struct {
	Trials     int     `json:"trials"`
	Falls      int     `json:"falls"`
	ADLs       int     `json:"adls"`
	RateHz     int     `json:"rate_hz"`          // the rate the trials were sent at
	ClipG      float64 `json:"clip_g,omitempty"` // each axis clipped to ±clip_g
	ChunksSent int64   `json:"chunks_sent"`
	// Sensitivity and Specificity count either detection; the _emergency
	// and _welfare counts split them.
	Sensitivity          float64                           `json:"sensitivity"`
	Specificity          float64                           `json:"specificity"`
	SpecificityEmergency float64                           `json:"specificity_emergency"` // counting only emergencies as false alarms
	FallsEmergency       int                               `json:"falls_emergency"`
	FallsWelfare         int                               `json:"falls_welfare"`
	ADLsEmergency        int                               `json:"adls_emergency"`
	ADLsWelfare          int                               `json:"adls_welfare"`
	Accuracy             float64                           `json:"accuracy"`
	FalseAlarmsPerHour   float64                           `json:"false_alarms_per_hour"`
	LatencyMSP50         float64                           `json:"latency_ms_p50"`
	LatencyMSP99         float64                           `json:"latency_ms_p99"`
	PerActivity          map[string]falleval.ActivityStats `json:"per_activity"`
	WallSeconds          float64                           `json:"wall_seconds"`
}

// trialOutcome is what came back for one trial's wearable, in event time.
type trialOutcome struct {
	fall      time.Time // first fall detection (pending or firing)
	cancelled bool      // ... then cancelled: the wearer got up
	welfare   time.Time // first fall_recovered
}

// chunkSeconds is how much a wearable sends per message: 1 s, as a
// wearable streaming to its hub would.
const chunkSeconds = 1

func cmdSisFall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sisfall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "a folder in SisFall's layout (subject folders SA01 ... with Dxx_/Fxx_ trial files)")
	limit := fs.Int("limit", 0, "replay at most this many trials (0: all)")
	parallel := fs.Int("parallel", 8, "trials replayed at once (one wearable each)")
	rate := fs.Int("rate", 0, "send the trials resampled to this rate, a divisor of theirs (20, 50, 100; 0: as recorded)")
	clip := fs.Float64("clip", 0, "clip each axis to ±clip g, as a smaller sensor range would (0: none)")
	_ = fs.Bool("json", true, "print the report as JSON (always)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rate < 0 || *clip < 0 {
		return fmt.Errorf("sisfall: --rate %d and --clip %g must not be negative", *rate, *clip)
	}
	if *data == "" {
		return errors.New("sisfall: --data DIR is required (e.g. the unpacked ../shared/data/sisfall)")
	}
	paths, err := falleval.ListTrials(*data)
	if err != nil {
		return fmt.Errorf("sisfall: %w", err)
	}
	if *limit > 0 && len(paths) > *limit {
		paths = paths[:*limit]
	}
	if len(paths) == 0 {
		return fmt.Errorf("sisfall: no trials under %s", *data)
	}
	began := time.Now()
	rep, err := replaySisFall(ctx, paths, *parallel, *rate, *clip, stderr)
	if err != nil {
		return err
	}
	rep.WallSeconds = time.Since(began).Seconds()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// trialRun is one trial on its own wearable (hub), so that each trial's
// detections are its own.
type trialRun struct {
	trial  falleval.Trial
	hub    devices.HubID
	secret string
	start  time.Time // event time of the first sample
	impact time.Time // the largest acceleration magnitude: a fall's impact peak
}

func replaySisFall(ctx context.Context, paths []string, parallel, rate int, clip float64, stderr io.Writer) (*SisFallReport, error) {
	dir, err := os.MkdirTemp("", "dolbom-sisfall")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	var mu sync.Mutex
	outcomes := map[devices.HubID]*trialOutcome{}
	pipe := broker.NewPipeListener()
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	g, err := gateway.New(gctx, gateway.Options{
		DataDir: dir, MQTTAddr: broker.ListenerOff, Listener: pipe, AdminToken: "sisfall-replay-token-0123456789",
		HeartbeatTimeout: time.Hour, ShutdownTimeout: 20 * time.Second,
		Channels: gateway.ChannelOptions{FakeTwilio: true}, // a replay reaches nobody
		// A replay sends a trial's seconds back to back: lift the per-hub
		// rate limit that protects a live gateway from a looping hub.
		Broker: broker.Config{ReadingsRate: 100000, ReadingsBurst: 100000},
		OnDetection: func(d detectors.Detection) {
			if d.Cause != detectors.CauseFall && d.Cause != detectors.CauseFallRecovered {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			o := outcomes[d.Hub]
			if o == nil {
				o = &trialOutcome{}
				outcomes[d.Hub] = o
			}
			switch {
			case d.Cause == detectors.CauseFallRecovered && (d.State == detectors.Pending || d.State == detectors.Firing) && o.welfare.IsZero():
				o.welfare = d.At
			case d.Cause == detectors.CauseFall && (d.State == detectors.Pending || d.State == detectors.Firing) && o.fall.IsZero():
				o.fall = d.At
			case d.Cause == detectors.CauseFall && d.State == detectors.Cancelled:
				o.cancelled = true
			}
		},
	}, zerolog.New(stderr).Level(zerolog.ErrorLevel))
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()
	defer func() { stop(); <-done }()
	for g.Ready(ctx) != nil {
		time.Sleep(10 * time.Millisecond)
	}

	// Every trial starts an hour ago in event time: each wearable is its
	// own home, so they do not overlap.
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	res, err := g.Store.Registry().CreateResident(ctx, devices.Resident{Name: "SisFall", Language: "ko"})
	if err != nil {
		return nil, err
	}
	secret := devices.NewSecret()
	hash := devices.HashHubSecret(secret)
	runs := make([]*trialRun, 0, len(paths))
	for _, p := range paths {
		t, err := falleval.ReadSisFallTrial(p)
		if err != nil {
			return nil, err
		}
		if rate > 0 || clip > 0 {
			if t, err = t.Resampled(cmp.Or(rate, t.RateHz), clip); err != nil {
				return nil, fmt.Errorf("sisfall: %w", err)
			}
		}
		id := devices.HubID(strings.ToLower(fmt.Sprintf("sisfall-%s-%s-r%02d", t.Subject, t.Activity, t.Run)))
		if err := devices.ValidateHubID(string(id)); err != nil {
			return nil, err
		}
		if _, err := g.Store.Registry().CreateHub(ctx, devices.Hub{ID: id, ResidentID: res.ID, SecretHash: hash, InstalledAt: base}); err != nil {
			return nil, err
		}
		g.Engine.Refresh(id, []devices.Sensor{{Hub: id, ID: "wearable-1", Kind: devices.SensorWearable, Location: devices.LocWorn}})
		runs = append(runs, &trialRun{trial: t, hub: id, secret: secret, start: base, impact: base.Add(peakOffset(t))})
	}

	var chunks int64
	var chunksMu sync.Mutex
	work := make(chan *trialRun)
	errs := make(chan error, parallel)
	var wg sync.WaitGroup
	for range max(1, parallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				n, err := replayTrial(pipe, r)
				if err != nil {
					errs <- err
					return
				}
				chunksMu.Lock()
				chunks += n
				chunksMu.Unlock()
			}
		}()
	}
	for i, r := range runs {
		select {
		case work <- r:
		case err := <-errs:
			close(work)
			wg.Wait()
			return nil, err
		}
		if (i+1)%200 == 0 {
			fmt.Fprintf(stderr, "sisfall: %d/%d trials replayed\n", i+1, len(runs))
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	// Everything published was acknowledged in order, so it is in the
	// engine's queues: let them drain.
	time.Sleep(2 * time.Second)

	rep := &SisFallReport{PerActivity: map[string]falleval.ActivityStats{}, ChunksSent: chunks, RateHz: rate, ClipG: clip}
	if len(runs) > 0 && rate == 0 {
		rep.RateHz = runs[0].trial.RateHz
	}
	var tp, fn, tn, fp int
	var adlSeconds float64
	var latencies []float64
	mu.Lock()
	defer mu.Unlock()
	for _, r := range runs {
		t := r.trial
		o := outcomes[r.hub]
		if o == nil {
			o = &trialOutcome{}
		}
		emergency, welfare := !o.fall.IsZero() && !o.cancelled, !o.welfare.IsZero()
		hit := emergency || welfare
		at := o.fall
		if at.IsZero() || (!o.welfare.IsZero() && o.welfare.Before(at)) {
			at = o.welfare
		}
		a := rep.PerActivity[t.Activity]
		a.Add(emergency, welfare)
		rep.PerActivity[t.Activity] = a
		if t.IsFall {
			rep.FallsEmergency += b2i(emergency)
			rep.FallsWelfare += b2i(welfare)
		} else {
			rep.ADLsEmergency += b2i(emergency)
			rep.ADLsWelfare += b2i(welfare)
		}
		rep.Trials++
		switch {
		case t.IsFall && hit:
			rep.Falls++
			tp++
			latencies = append(latencies, float64(at.Sub(r.impact).Milliseconds()))
		case t.IsFall:
			rep.Falls++
			fn++
		case hit:
			rep.ADLs++
			fp++
			adlSeconds += t.Duration().Seconds()
		default:
			rep.ADLs++
			tn++
			adlSeconds += t.Duration().Seconds()
		}
	}
	rep.Sensitivity = ratio(tp, tp+fn)
	rep.Specificity = ratio(tn, tn+fp)
	rep.SpecificityEmergency = ratio(rep.ADLs-rep.ADLsEmergency, rep.ADLs)
	rep.Accuracy = ratio(tp+tn, rep.Trials)
	if adlSeconds > 0 {
		rep.FalseAlarmsPerHour = float64(fp) / (adlSeconds / 3600)
	}
	slices.Sort(latencies)
	rep.LatencyMSP50, rep.LatencyMSP99 = quantile(latencies, 0.50), quantile(latencies, 0.99)
	return rep, nil
}

// replayTrial connects the trial's wearable with paho, sends the trial in
// 1 s accelerometer chunks stamped with event time, and ends with a QoS 1
// heartbeat whose PUBACK means the broker has handed every chunk on.
func replayTrial(pipe *broker.PipeListener, r *trialRun) (int64, error) {
	opts := mqtt.NewClientOptions().AddBroker("tcp://pipe:1883").
		SetClientID(string(r.hub)).SetUsername(string(r.hub)).SetPassword(r.secret).
		SetCleanSession(true).SetOrderMatters(true).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return pipe.Dial() })
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return 0, fmt.Errorf("sisfall: connect %s: %v", r.hub, tok.Error())
	}
	defer cl.Disconnect(50)
	t := r.trial
	per := t.RateHz * chunkSeconds
	topic := devices.Topic(r.hub, devices.ChanAccel)
	var n int64
	for i := 0; i < len(t.X); i += per {
		j := min(i+per, len(t.X))
		c := devices.AccelChunk{Sensor: "wearable-1", At: r.start.Add(time.Duration(i) * time.Second / time.Duration(t.RateHz)),
			RateHz: t.RateHz, X: t.X[i:j], Y: t.Y[i:j], Z: t.Z[i:j]}
		cl.Publish(topic, 0, false, devices.EncodeAccel(c))
		n++
	}
	end := r.start.Add(t.Duration())
	tok := cl.Publish(devices.Topic(r.hub, devices.ChanHeartbeat), 1, false, devices.EncodeHeartbeat(devices.Heartbeat{At: end}))
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return n, fmt.Errorf("sisfall: %s: final heartbeat not acknowledged: %v", r.hub, tok.Error())
	}
	return n, nil
}

// peakOffset is the time of the largest acceleration magnitude in the trial.
func peakOffset(t falleval.Trial) time.Duration {
	best, at := 0.0, 0
	for i := range t.X {
		m := math.Sqrt(float64(t.X[i]*t.X[i] + t.Y[i]*t.Y[i] + t.Z[i]*t.Z[i]))
		if m > best {
			best, at = m, i
		}
	}
	return time.Duration(at) * time.Second / time.Duration(t.RateHz)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}
