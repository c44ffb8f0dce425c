package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	firmwaresim "github.com/dolbom/dolbom/firmware-sim"
)

// LoadReport is the final JSON of `dolbom-sim load`.
type LoadReport struct {
	Homes           int                                    `json:"homes"`
	Connected       int64                                  `json:"connected"`
	ConnectSeconds  *float64                               `json:"connect_s"` // until every home was online, null if never
	DurationS       float64                                `json:"duration_s"`
	Speed           float64                                `json:"speed"`
	Messages        int64                                  `json:"messages"`
	MsgsPerS        float64                                `json:"msgs_per_s"`
	EmergenciesSent int64                                  `json:"emergencies_sent"`
	EmergenciesAck  int64                                  `json:"emergencies_acked"`
	IncidentsOpened *int64                                 `json:"incidents_opened"`
	Lost            int64                                  `json:"lost"`
	Duplicates      *int64                                 `json:"duplicates"`
	LatencyMS       map[string]*firmwaresim.LatencySummary `json:"latency_ms"`
	GatewayRSS      int64                                  `json:"gateway_rss_bytes"`
	SimRSS          int64                                  `json:"sim_rss_bytes"`
	ProcessRSS      int64                                  `json:"process_rss_bytes"`
	SimBytesPerHome float64                                `json:"sim_bytes_per_home"`
	Fleet           firmwaresim.Stats                      `json:"fleet"`
	Notes           []string                               `json:"notes"`
	Command         string                                 `json:"command"`
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

func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var c common
	c.register(fs)
	homes := fs.Int("homes", 1000, "number of homes")
	duration := fs.Duration("duration", time.Minute, "how long to run after the first connect")
	speed := fs.Float64("speed", 1, "simulated time per wall time (readings carry event time)")
	rate := fs.Float64("connect-rate", 5000, "hub connects per second")
	emergRate := fs.Float64("emergency-rate", 1, "SOS events per second across the fleet")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	sensors := fs.String("sensors", "auto", "register every home's sensors: yes, no, auto (yes up to 20,000 homes)")
	offset := fs.Int("offset", 0, "first home index (several processes share one gateway)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := c.logger(stderr)
	withSensors := *sensors == "yes" || (*sensors == "auto" && *homes <= 20000)
	tr, prov, _, env, cleanup, err := c.setup(ctx, stderr, broker.Config{}, true)
	if err != nil {
		return err
	}
	defer cleanup()
	rep := LoadReport{Homes: *homes, Speed: *speed, Command: "dolbom-sim load " + strings.Join(args, " "),
		LatencyMS: map[string]*firmwaresim.LatencySummary{}}

	// Provision in parallel.
	ids := make([]devices.HubID, *homes)
	secrets := make([]string, *homes)
	var next atomic.Int64
	var perr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *homes || ctx.Err() != nil {
					return
				}
				ids[i] = devices.HubID(fmt.Sprintf("sim-%07d", *offset+i))
				s, err := prov.provision(ctx, ids[i], withSensors)
				if err != nil {
					perr.Store(err)
					return
				}
				secrets[i] = s
				if i%20000 == 19999 {
					fmt.Fprintf(stderr, "provisioned %d homes in %.0fs\n", i+1, time.Since(t0).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := perr.Load().(error); ok {
		return fmt.Errorf("provision: %w", e)
	}
	fmt.Fprintf(stderr, "provisioned %d homes in %.1fs (sensors registered: %v)\n", *homes, time.Since(t0).Seconds(), withSensors)

	before := liveBytes()
	clock := firmwaresim.NewClock(time.Now(), *speed, *duration)
	fleet := firmwaresim.NewFleet(firmwaresim.Options{Transport: tr, Clock: clock, Seed: c.seed, Version: c.version(),
		IDPrefix: fmt.Sprintf("L%x-", time.Now().Unix()), Logger: log})
	start := time.Now()
	for i := range *homes {
		h := fleet.Add(ids[i], secrets[i], uint32(*offset+i))
		fleet.Start(h, start.Add(time.Duration(float64(i)/(*rate)*float64(time.Second))))
	}
	added := liveBytes()
	rep.SimBytesPerHome = float64(added-before) / float64(*homes)

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { fleet.Run(rctx); close(done) }()

	// Emergencies at a known rate, on hubs chosen at random.
	var sent atomic.Int64
	go func() {
		if *emergRate <= 0 {
			return
		}
		rnd := rand.New(rand.NewPCG(c.seed, 99))
		t := time.NewTicker(time.Duration(float64(time.Second) / *emergRate))
		defer t.Stop()
		hubs := fleet.Hubs()
		for n := 0; ; n++ {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
			}
			h := hubs[rnd.IntN(len(hubs))]
			if !h.Online() {
				continue
			}
			h.Publish(devices.Event{ID: devices.EventID(fmt.Sprintf("x%x-%d", start.Unix(), n)), Kind: devices.EventSOS,
				Sensor: firmwaresim.SensorPendant, At: clock.Sim(time.Now())})
			sent.Add(1)
		}
	}()

	var allOnline *float64
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	end := start.Add(*duration)
	var lastPub int64
	lastT := start
	for time.Now().Before(end) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		st := fleet.Stats()
		now := time.Now()
		if allOnline == nil && st.Online >= int64(*homes) {
			v := now.Sub(start).Seconds()
			allOnline = &v
		}
		fmt.Fprintf(stderr, "t=%4.0fs online=%d/%d msgs/s=%.0f emergencies=%d puback_ms p50=%.2f p99=%.2f rss=%dMiB\n",
			now.Sub(start).Seconds(), st.Online, *homes, float64(st.Published-lastPub)/now.Sub(lastT).Seconds(), sent.Load(),
			st.Puback.P50, st.Puback.P99, rss()>>20)
		lastPub, lastT = st.Published, now
	}
	st := fleet.Stats()
	elapsed := time.Since(start).Seconds()
	rep.ProcessRSS = rss()
	cancel()
	<-done
	rep.Connected = st.Online
	rep.ConnectSeconds = allOnline
	rep.DurationS = elapsed
	rep.Messages = st.Published
	rep.MsgsPerS = float64(st.Published) / elapsed
	rep.EmergenciesSent = sent.Load()
	rep.EmergenciesAck = st.EmergencyPuback.N
	rep.Lost = rep.EmergenciesSent - rep.EmergenciesAck
	rep.Fleet = st
	pb := st.Puback
	rep.LatencyMS["puback"] = &pb
	rep.LatencyMS["incident"], rep.LatencyMS["notify"] = nil, nil
	rep.Notes = append(rep.Notes,
		"incident and notify latencies, incidents_opened and duplicates are null: the gateway does not yet expose an incident feed or the 119/Twilio fakes",
		"lost counts emergencies without a PUBACK at the end of the run (in flight at the end included), not yet emergencies without an incident")
	if env != nil {
		rep.SimRSS = int64(rep.SimBytesPerHome * float64(*homes))
		rep.GatewayRSS = rep.ProcessRSS - rep.SimRSS
		rep.Notes = append(rep.Notes, "in-process: gateway and simulator share one process; sim_rss_bytes is sim_bytes_per_home (live heap and stacks added by the idle hubs, measured after GC) times homes, gateway_rss_bytes the rest of the RSS")
	} else {
		rep.SimRSS = rep.ProcessRSS
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%d/%d homes online, %.0f msgs/s, puback p50 %.2f ms p99 %.2f ms, emergencies %d (lost %d), rss %d MiB\n",
		rep.Connected, rep.Homes, rep.MsgsPerS, pb.P50, pb.P99, rep.EmergenciesSent, rep.Lost, rep.ProcessRSS>>20)
	return nil
}
