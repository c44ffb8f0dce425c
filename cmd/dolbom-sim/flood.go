package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	firmwaresim "github.com/dolbom/dolbom/firmware-sim"
)

// FloodReport is the JSON of `dolbom-sim flood`.
type FloodReport struct {
	Target    string                     `json:"target"`
	Conns     int                        `json:"conns"`
	Connected int64                      `json:"connected"`
	QoS       int                        `json:"qos"`
	DurationS float64                    `json:"duration_s"`
	Messages  int64                      `json:"messages"`
	MsgsPerS  float64                    `json:"msgs_per_s"`
	Errors    int64                      `json:"errors"`
	Puback    firmwaresim.LatencySummary `json:"puback_ms"`
	Command   string                     `json:"command"`
}

func cmdFlood(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	target := fs.String("target", "", "MQTT address HOST:PORT (required)")
	server := fs.String("server", "", "dolbomd admin API base URL: provision the hubs (omit for an anonymous broker)")
	token := fs.String("token", "", "admin API token")
	conns := fs.Int("conns", 1000, "connections")
	duration := fs.Duration("duration", 20*time.Second, "measuring time, after every connection is up")
	qos := fs.Int("qos", 1, "0 or 1")
	window := fs.Int("window", 16, "unacknowledged QoS 1 messages per connection (the protocol's limit)")
	mqtt5 := fs.Bool("mqtt5", false, "MQTT 5")
	asJSON := fs.Bool("json", false, "JSON report")
	inprocGW := fs.Bool("gateway-inproc", false, "run the gateway (dolbomd's wiring) in this process on a TCP port of 127.0.0.1 and flood it")
	dataDir := fs.String("data-dir", "", "with --gateway-inproc: its data directory (default: a temporary one on disk)")
	readingsRate := fs.Float64("readings-rate", 0, "with --gateway-inproc: the broker's per-hub rate limit for readings (0: the default, 5/s)")
	readingsBurst := fs.Int("readings-burst", 0, "with --gateway-inproc: its burst (0: the default, 300)")
	if err := fs.Parse(args); err != nil {
		return err
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
		env := &inproc{dir: dir, log: zerolog.New(stderr).Level(zerolog.ErrorLevel), mqttAddr: addr, tr: &switchTransport{},
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
	ver := byte(4)
	if *mqtt5 {
		ver = 5
	}
	addr := targetAddr(*target)
	ids := make([]string, *conns)
	secrets := make([]string, *conns)
	runID := fmt.Sprintf("%x", time.Now().Unix()&0xfffff)
	for i := range ids {
		ids[i] = fmt.Sprintf("flood-%s-%05d", runID, i)
	}
	if *server != "" || inprocProv != nil {
		p := inprocProv
		if p == nil {
			p = apiProvisioner{&api{base: strings.TrimRight(*server, "/"), token: *token, hc: &http.Client{Timeout: 30 * time.Second}}}
		}
		var wg sync.WaitGroup
		var perr atomic.Value
		var next atomic.Int64
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < *conns; i = int(next.Add(1) - 1) {
					s, err := p.provision(ctx, devices.HubID(ids[i]), false)
					if err != nil {
						perr.Store(err)
						return
					}
					secrets[i] = s
				}
			}()
		}
		wg.Wait()
		if e, ok := perr.Load().(error); ok {
			return fmt.Errorf("provision: %w", e)
		}
	}
	var (
		connected, msgs, errs atomic.Int64
		measuring             atomic.Bool
		hist                  firmwaresim.Histogram
	)
	sources := firmwaresim.LoopbackSources(8)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := floodConn(fctx, addr, sources[i%len(sources)], ver, ids[i], secrets[i], byte(*qos), *window, ready, &connected, &msgs, &measuring, &hist); err != nil && fctx.Err() == nil {
				errs.Add(1)
				fmt.Fprintln(stderr, "flood:", ids[i], err)
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for connected.Load() < int64(*conns) && time.Now().Before(deadline) && errs.Load() == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	close(ready)
	time.Sleep(2 * time.Second) // warm up
	msgs.Store(0)
	measuring.Store(true)
	t0 := time.Now()
	select {
	case <-time.After(*duration):
	case <-ctx.Done():
	}
	n := msgs.Load()
	el := time.Since(t0).Seconds()
	cancel()
	wg.Wait()
	rep := FloodReport{Target: addr, Conns: *conns, Connected: connected.Load(), QoS: *qos, DurationS: el, Messages: n, MsgsPerS: float64(n) / el,
		Errors: errs.Load(), Puback: hist.Summary(), Command: "dolbom-sim flood " + strings.Join(args, " ")}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%d conns, qos %d: %.0f msgs/s (puback p50 %.2f ms, p99 %.2f ms)\n", rep.Connected, rep.QoS, rep.MsgsPerS, rep.Puback.P50, rep.Puback.P99)
	return nil
}

// floodConn publishes readings batches on one connection as fast as the
// window of unacknowledged messages allows (QoS 1) or as PINGRESPs come
// back every 100 messages (QoS 0).
func floodConn(ctx context.Context, addr string, src net.IP, ver byte, id, secret string, qos byte, window int, ready <-chan struct{},
	connected, msgs *atomic.Int64, measuring *atomic.Bool, hist *firmwaresim.Histogram) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	var buf bytes.Buffer
	o := firmwaresim.ConnectOptions{Version: ver, ClientID: id, Keepalive: 60}
	if secret != "" {
		o.Username, o.Password = id, secret
	}
	firmwaresim.AppendConnect(&buf, o)
	if _, err := c.Write(buf.Bytes()); err != nil {
		return err
	}
	credits := make(chan struct{}, window)
	var sentAt [65536]int64
	connack := make(chan error, 1)
	go func() {
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
				pk, _ := firmwaresim.DecodeFrame(rb[:k], fh, ver)
				switch fh.Type {
				case packets.Connack:
					got = true
					if pk.ReasonCode != 0 {
						connack <- fmt.Errorf("connack 0x%x", pk.ReasonCode)
						return
					}
					connack <- nil
				case packets.Puback, packets.Pingresp:
					if fh.Type == packets.Puback && measuring.Load() {
						hist.Record(time.Duration(time.Now().UnixNano() - atomic.LoadInt64(&sentAt[pk.PacketID])))
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
		return err
	}
	connected.Add(1)
	<-ready
	topic := devices.Topic(devices.HubID(id), devices.ChanReadings)
	for range window {
		credits <- struct{}{}
	}
	var pid uint16
	for n := 0; ctx.Err() == nil; n++ {
		if qos == 1 || n%100 == 0 {
			select {
			case <-credits:
			case <-ctx.Done():
				return nil
			}
		}
		now := time.Now()
		payload := devices.EncodeReadings(devices.ReadingBatch{SentAt: now, Readings: []devices.Reading{
			{Sensor: firmwaresim.SensorKitchenSmoke, Metric: devices.MetricTemperature, At: now, Value: 22.5, Quality: -1},
			{Sensor: firmwaresim.SensorRadar, Metric: devices.MetricHeartRate, At: now, Value: 63, Quality: 0.9}}})
		buf.Reset()
		if qos == 1 {
			pid++
			if pid == 0 {
				pid = 1
			}
			atomic.StoreInt64(&sentAt[pid], now.UnixNano())
			firmwaresim.AppendPublish(&buf, ver, topic, payload, 1, pid, false, false)
		} else {
			firmwaresim.AppendPublish(&buf, ver, topic, payload, 0, 0, false, false)
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
		if measuring.Load() {
			msgs.Add(1)
		}
	}
	return nil
}
