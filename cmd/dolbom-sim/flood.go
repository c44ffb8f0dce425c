package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// FloodReport is the JSON of `dolbom-sim flood`: one FloodRun per target
// and round, and with --baseline the ratio of each round.
type FloodReport struct {
	Conns        int        `json:"conns"`
	QoS          int        `json:"qos"`
	Window       int        `json:"window"`
	RatePerConn  float64    `json:"rate_per_conn,omitempty"` // msgs/s per connection; 0: as fast as the window allows
	PayloadBytes int        `json:"payload_bytes"`
	Runs         []FloodRun `json:"runs"`
	// Ratios[i] is round i's target msgs/s over its baseline msgs/s.
	Ratios     []float64 `json:"ratios,omitempty"`
	WorstRatio float64   `json:"worst_ratio,omitempty"`
	RatioIs    string    `json:"ratio_is,omitempty"`
	// MeasuresBroker is false when a target refused messages or dropped
	// connections during the measurement: the figures then measure its
	// limits (per-hub rate limits, kicks), not how fast it carries messages.
	MeasuresBroker bool   `json:"measures_broker"`
	Command        string `json:"command"`
}

// FloodRun is one measurement of one target.
type FloodRun struct {
	Round     int     `json:"round"`
	Role      string  `json:"role"` // "target" or "baseline"
	Target    string  `json:"target"`
	Connected int64   `json:"connected"`
	DurationS float64 `json:"duration_s"`
	// Acked are the messages acknowledged as taken in the measuring time
	// (QoS 1: a PUBACK without an error reason; QoS 0: sent).
	Acked    int64   `json:"acked"`
	MsgsPerS float64 `json:"msgs_per_s"`
	// Refused: PUBACKs with an error reason (MQTT 5 only: 3.1.1 has none).
	Refused int64 `json:"refused"`
	// Rejects: messages on the hubs' rejects topics (dolbomd says there why
	// it refused a message, e.g. rate_limited).
	Rejects int64 `json:"rejects"`
	// Disconnects: connections the target closed during the run.
	Disconnects   int64                      `json:"disconnects"`
	ConnectErrors int64                      `json:"connect_errors"`
	Puback        firmwaresim.LatencySummary `json:"puback_ms"`
}

func (r FloodRun) limited() bool { return r.Refused > 0 || r.Rejects > 0 || r.Disconnects > 0 }

// floodRatioIs defines the ratio the report prints.
const floodRatioIs = "target msgs/s / baseline msgs/s in the same round: messages acknowledged as taken per second, " +
	"same connections, window, rate and payload, baseline measured first"

// floodConfig is what every connection of a run shares.
type floodConfig struct {
	ver         byte
	qos         byte
	window      int
	ratePerConn float64
	warmup      time.Duration
	duration    time.Duration
	ids         []string
	secrets     []string // nil: anonymous (a bare broker)
	stderr      io.Writer
}

func cmdFlood(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	target := fs.String("target", "", "MQTT address HOST:PORT (required)")
	baseline := fs.String("baseline", "", "a reference broker HOST:PORT (Mosquitto, anonymous) flooded the same way before the target in each round; the report gives target/baseline")
	rounds := fs.Int("rounds", 1, "measurements of each target, alternating baseline and target")
	server := fs.String("server", "", "dolbomd admin API base URL: provision the hubs (omit for an anonymous broker)")
	token := fs.String("token", "", "admin API token")
	conns := fs.Int("conns", 1000, "connections")
	duration := fs.Duration("duration", 20*time.Second, "measuring time, after every connection is up and the warm-up")
	warmup := fs.Duration("warmup", 2*time.Second, "flooding before the measuring starts")
	qos := fs.Int("qos", 1, "0 or 1")
	window := fs.Int("window", 16, "unacknowledged QoS 1 messages per connection (the protocol's limit)")
	rate := fs.Float64("rate", 0, "messages per second per connection (0: as fast as the window allows); within dolbomd's --readings-rate, the flood passes its per-hub limit")
	mqtt5 := fs.Bool("mqtt5", false, "MQTT 5 (refused messages then show as PUBACK reason codes)")
	asJSON := fs.Bool("json", false, "JSON report")
	inprocGW := fs.Bool("gateway-inproc", false, "run the gateway (dolbomd's wiring) in this process on a TCP port of 127.0.0.1 and flood it")
	dataDir := fs.String("data-dir", "", "with --gateway-inproc: its data directory (default: a temporary one on disk)")
	readingsRate := fs.Float64("readings-rate", 0, "with --gateway-inproc: the broker's per-hub rate limit for readings (0: the default, 5/s)")
	readingsBurst := fs.Int("readings-burst", 0, "with --gateway-inproc: its burst (0: the default, 300)")
	flushRows := fs.Int("flush-rows", 0, "with --gateway-inproc: readings per store transaction (0: the store's default)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the rounds to this file (with --gateway-inproc it shows the gateway under the flood); the generator's goroutines carry the label part=simulator")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *conns < 1:
		return fmt.Errorf("flood: --conns %d: need at least 1", *conns)
	case *qos != 0 && *qos != 1:
		return fmt.Errorf("flood: --qos %d: 0 or 1", *qos)
	case *window < 1 || *window > 65535:
		return fmt.Errorf("flood: --window %d: 1-65535", *window)
	case *rate < 0:
		return fmt.Errorf("flood: --rate %g: must not be negative", *rate)
	case *duration <= 0 || *warmup < 0:
		return fmt.Errorf("flood: --duration %s, --warmup %s: the duration must be positive, the warm-up not negative", *duration, *warmup)
	case *rounds < 1:
		return fmt.Errorf("flood: --rounds %d: at least 1", *rounds)
	}
	var inprocProv provisioner
	if *inprocGW {
		dir := *dataDir
		if dir == "" {
			d, err := os.MkdirTemp("", "dolbom-flood-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			dir = d
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addr := l.Addr().String()
		l.Close()
		env := &inproc{dir: dir, log: zerolog.New(stderr).Level(zerolog.ErrorLevel), mqttAddr: addr, tr: &switchTransport{}, flushRows: *flushRows,
			bc: broker.Config{ReadingsRate: *readingsRate, ReadingsBurst: *readingsBurst}}
		if err := env.start(ctx); err != nil {
			return err
		}
		defer env.stop()
		*target = addr
		inprocProv = newStoreProvisioner(env)
	}
	if *target == "" {
		return errors.New("flood needs --target HOST:PORT or --gateway-inproc")
	}
	cfg := floodConfig{ver: 4, qos: byte(*qos), window: *window, ratePerConn: *rate, warmup: *warmup, duration: *duration, stderr: stderr}
	if *mqtt5 {
		cfg.ver = 5
	}
	cfg.ids = make([]string, *conns)
	runID := fmt.Sprintf("%x", time.Now().Unix()&0xfffff)
	for i := range cfg.ids {
		cfg.ids[i] = fmt.Sprintf("flood-%s-%05d", runID, i)
	}
	secrets, err := floodProvision(ctx, inprocProv, *server, *token, cfg.ids)
	if err != nil {
		return err
	}
	rep := FloodReport{Conns: *conns, QoS: *qos, Window: *window, RatePerConn: *rate, PayloadBytes: len(floodPayload(time.Now())),
		MeasuresBroker: true, Command: "dolbom-sim flood " + strings.Join(args, " ")}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	// The generator's goroutines are labelled so that a profile tells its
	// CPU from the in-process gateway's (go tool pprof -tagignore part=simulator).
	floodRun := func(ctx context.Context, cfg floodConfig, addr string) (run FloodRun) {
		pprof.Do(ctx, pprof.Labels(simLabelKey, simLabelValue), func(ctx context.Context) { run = floodRun(ctx, cfg, addr) })
		return run
	}
	for round := 1; round <= *rounds && ctx.Err() == nil; round++ {
		var base FloodRun
		if *baseline != "" {
			bc := cfg
			bc.secrets = nil
			base = floodRun(ctx, bc, targetAddr(*baseline))
			base.Round, base.Role = round, "baseline"
			rep.Runs = append(rep.Runs, base)
		}
		tc := cfg
		tc.secrets = secrets
		run := floodRun(ctx, tc, targetAddr(*target))
		run.Round, run.Role = round, "target"
		rep.Runs = append(rep.Runs, run)
		if base.MsgsPerS > 0 {
			rep.Ratios = append(rep.Ratios, math.Round(run.MsgsPerS/base.MsgsPerS*1000)/1000)
		}
	}
	for _, r := range rep.Runs {
		if r.limited() {
			rep.MeasuresBroker = false
		}
	}
	if len(rep.Ratios) > 0 {
		rep.WorstRatio, rep.RatioIs = slices.Min(rep.Ratios), floodRatioIs
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeFloodText(stdout, rep)
	return nil
}

func writeFloodText(w io.Writer, rep FloodReport) {
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "round %d %-8s %s: %d conns, qos %d: %.0f msgs/s acknowledged (puback p50 %.2f ms, p99 %.2f ms); refused %d, rejects %d, disconnects %d, connect errors %d\n",
			r.Round, r.Role, r.Target, r.Connected, rep.QoS, r.MsgsPerS, r.Puback.P50, r.Puback.P99, r.Refused, r.Rejects, r.Disconnects, r.ConnectErrors)
	}
	if len(rep.Ratios) > 0 {
		fmt.Fprintf(w, "ratio per round %v, worst %.3f (%s)\n", rep.Ratios, rep.WorstRatio, rep.RatioIs)
	}
	if !rep.MeasuresBroker {
		fmt.Fprintln(w, "warning: a target refused messages or closed connections: these figures measure its limits (raise dolbomd's --readings-rate/--readings-burst, or lower --rate), not the broker")
	}
}

// floodProvision registers the hubs with dolbomd (its admin API, or the
// in-process gateway's store) and returns their secrets; nil when the
// target is an anonymous broker.
func floodProvision(ctx context.Context, inprocProv provisioner, server, token string, ids []string) ([]string, error) {
	p := inprocProv
	if p == nil && server != "" {
		p = apiProvisioner{&api{base: strings.TrimRight(server, "/"), token: token, hc: &http.Client{Timeout: 30 * time.Second}}}
	}
	if p == nil {
		return nil, nil
	}
	secrets := make([]string, len(ids))
	var wg sync.WaitGroup
	var perr atomic.Value
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				s, err := p.provision(ctx, devices.HubID(ids[i]), false)
				if err != nil {
					perr.Store(err)
					return
				}
				secrets[i] = s
			}
		})
	}
	wg.Wait()
	if e, ok := perr.Load().(error); ok {
		return nil, fmt.Errorf("provision: %w", e)
	}
	return secrets, nil
}

// floodCounters are one run's tallies, shared by its connections.
type floodCounters struct {
	connected, acked, refused, rejects, disconnects, connectErrors atomic.Int64
	measuring                                                      atomic.Bool
	hist                                                           firmwaresim.Histogram
}

// floodRun connects every hub to addr, floods for cfg.duration once all are
// up and cfg.warmup has passed, and closes them.
func floodRun(ctx context.Context, cfg floodConfig, addr string) FloodRun {
	c := &floodCounters{}
	sources := firmwaresim.LoopbackSources(8)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i, id := range cfg.ids {
		secret := ""
		if cfg.secrets != nil {
			secret = cfg.secrets[i]
		}
		wg.Go(func() {
			err := floodConn(fctx, cfg, addr, sources[i%len(sources)], id, secret, ready, c)
			if err != nil && fctx.Err() == nil {
				fmt.Fprintln(cfg.stderr, "flood:", addr, id, err)
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for c.connected.Load()+c.connectErrors.Load() < int64(len(cfg.ids)) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	close(ready)
	select {
	case <-time.After(cfg.warmup):
	case <-ctx.Done():
	}
	c.acked.Store(0)
	c.measuring.Store(true)
	t0 := time.Now()
	select {
	case <-time.After(cfg.duration):
	case <-ctx.Done():
	}
	n := c.acked.Load()
	el := time.Since(t0).Seconds()
	c.measuring.Store(false)
	cancel()
	wg.Wait()
	return FloodRun{Target: addr, Connected: c.connected.Load(), DurationS: el, Acked: n, MsgsPerS: float64(n) / el,
		Refused: c.refused.Load(), Rejects: c.rejects.Load(), Disconnects: c.disconnects.Load(), ConnectErrors: c.connectErrors.Load(),
		Puback: c.hist.Summary()}
}

// floodPayload is the flood's readings batch: two readings, the smallest
// batch a hub sends. Each connection encodes it once; its timestamps stay
// within the gateway's bounds (devices.DefaultLimits) for days.
func floodPayload(now time.Time) []byte {
	return devices.EncodeReadings(devices.ReadingBatch{SentAt: now, Readings: []devices.Reading{
		{Sensor: firmwaresim.SensorKitchenSmoke, Metric: devices.MetricTemperature, At: now, Value: 22.5, Quality: -1},
		{Sensor: firmwaresim.SensorRadar, Metric: devices.MetricHeartRate, At: now, Value: 63, Quality: 0.9}}})
}

// floodConn publishes readings batches on one connection as fast as the
// window of unacknowledged messages allows (QoS 1) or as PINGRESPs come
// back every 100 messages (QoS 0), paced to cfg.ratePerConn when set. It
// subscribes to the hub's rejects topic to count what the target refuses.
func floodConn(ctx context.Context, cfg floodConfig, addr string, src net.IP, id, secret string, ready <-chan struct{}, fc *floodCounters) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fc.connectErrors.Add(1)
		return err
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	var buf bytes.Buffer
	o := firmwaresim.ConnectOptions{Version: cfg.ver, ClientID: id, Keepalive: 60, Clean: true}
	if secret != "" {
		o.Username, o.Password = id, secret
	}
	firmwaresim.AppendConnect(&buf, o)
	firmwaresim.AppendSubscribe(&buf, cfg.ver, 1, devices.Topic(devices.HubID(id), devices.ChanRejects))
	if _, err := c.Write(buf.Bytes()); err != nil {
		fc.connectErrors.Add(1)
		return err
	}
	credits := make(chan struct{}, cfg.window)
	var sentAt [65536]int64
	connack := make(chan error, 1)
	lost := make(chan struct{}) // the target closed the connection
	go func() {
		defer close(lost)
		rb := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		got := false
		for {
			n, err := c.Read(tmp)
			if err != nil {
				if !got {
					connack <- err
				}
				return
			}
			rb = append(rb, tmp[:n]...)
			for {
				k, fh, err := firmwaresim.SplitFrame(rb)
				if err != nil || k == 0 {
					break
				}
				pk, _ := firmwaresim.DecodeFrame(rb[:k], fh, cfg.ver)
				switch fh.Type {
				case packets.Connack:
					got = true
					if pk.ReasonCode != 0 {
						connack <- fmt.Errorf("connack 0x%x", pk.ReasonCode)
						return
					}
					connack <- nil
				case packets.Publish:
					fc.rejects.Add(1) // only the rejects topic is subscribed
				case packets.Puback, packets.Pingresp:
					if fh.Type == packets.Puback && fc.measuring.Load() {
						if pk.ReasonCode >= 0x80 {
							fc.refused.Add(1)
						} else {
							fc.acked.Add(1)
							fc.hist.Record(time.Duration(time.Now().UnixNano() - atomic.LoadInt64(&sentAt[pk.PacketID])))
						}
					}
					select {
					case credits <- struct{}{}:
					default:
					}
				}
				rb = rb[k:]
			}
			rb = append(rb[:0], rb...)
		}
	}()
	if err := <-connack; err != nil {
		fc.connectErrors.Add(1)
		return err
	}
	fc.connected.Add(1)
	defer func() {
		if ctx.Err() == nil {
			fc.disconnects.Add(1)
		}
	}()
	select {
	case <-ready:
	case <-lost:
		return errors.New("connection closed by the target")
	}
	topic := devices.Topic(devices.HubID(id), devices.ChanReadings)
	payload := floodPayload(time.Now())
	for range cfg.window {
		credits <- struct{}{}
	}
	var pid uint16
	start := time.Now()
	for n := 0; ctx.Err() == nil; n++ {
		if cfg.ratePerConn > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(n) / cfg.ratePerConn * float64(time.Second)))); wait > 0 {
				select {
				case <-time.After(wait):
				case <-lost:
					return errors.New("connection closed by the target")
				case <-ctx.Done():
					return nil
				}
			}
		}
		if cfg.qos == 1 || n%100 == 0 {
			select {
			case <-credits:
			case <-lost:
				return errors.New("connection closed by the target")
			case <-ctx.Done():
				return nil
			}
		}
		buf.Reset()
		if cfg.qos == 1 {
			pid++
			if pid == 0 {
				pid = 1
			}
			atomic.StoreInt64(&sentAt[pid], time.Now().UnixNano())
			firmwaresim.AppendPublish(&buf, cfg.ver, topic, payload, 1, pid, false, false)
		} else {
			firmwaresim.AppendPublish(&buf, cfg.ver, topic, payload, 0, 0, false, false)
			if n%100 == 99 {
				firmwaresim.AppendPingreq(&buf)
			}
		}
		if _, err := c.Write(buf.Bytes()); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if cfg.qos == 0 && fc.measuring.Load() {
			fc.acked.Add(1)
		}
	}
	return nil
}
