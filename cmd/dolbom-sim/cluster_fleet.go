package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// fleetSpec is what one simulator child of `dolbom-sim cluster` runs: its
// share of the homes, through one HAProxy. The parent writes it as a JSON
// file and starts `dolbom-sim cluster --fleet-child FILE`.
type fleetSpec struct {
	Target  string   `json:"target"`  // HAProxy's MQTT front end
	Sources []string `json:"sources"` // local addresses to spread connections over
	First   int      `json:"first"`   // the cluster-wide index of Hubs[0]
	Hubs    []string `json:"hubs"`
	Secrets []string `json:"secrets"`
	Seed    uint64   `json:"seed"`
	// SOSRate is this child's SOS per second, each on a home not used
	// before, from start until SOSFor has passed.
	SOSRate    float64       `json:"sos_rate"`
	SOSFor     time.Duration `json:"sos_for"`
	Heartbeat  uint16        `json:"heartbeat_s"`
	MaxBackoff time.Duration `json:"max_backoff"`
	IDPrefix   string        `json:"id_prefix"`
	// ConnectRate spreads the first CONNECTs (hubs per second), as a fleet
	// coming up does, rather than one burst into the load guard.
	ConnectRate float64 `json:"connect_rate"`
}

// fleetLine is one line a child prints on stdout; the parent reads them
// all. Times are Unix nanoseconds of this machine's clock, the clock the
// gateways stamp incidents with.
type fleetLine struct {
	Kind string `json:"k"` // on, off, sos, ack
	Hub  int    `json:"h"` // cluster-wide index
	At   int64  `json:"t"`
	ID   string `json:"id,omitempty"` // sos, ack: the event id
	// Online says, for sos, whether the hub held a session when it
	// published (else the hub buffered it).
	Online bool `json:"on,omitempty"`
}

// runFleetChild is `dolbom-sim cluster --fleet-child FILE`: the homes of
// spec over TCP until ctx ends (the parent's SIGTERM). It takes orders on
// stdin, one a line: "silence INDEX DURATION" cuts that hub off the
// network for that long (a home gone silent, which another gateway must
// adopt) and sends no SOS from it.
func runFleetChild(ctx context.Context, file string, stdin io.Reader, stdout io.Writer) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var spec fleetSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("fleet spec %s: %w", file, err)
	}
	if len(spec.Secrets) != len(spec.Hubs) {
		return fmt.Errorf("fleet spec %s: %d hubs but %d secrets", file, len(spec.Hubs), len(spec.Secrets))
	}
	var sources []net.IP
	for _, s := range spec.Sources {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("fleet spec %s: source %q is not an IP address", file, s)
		}
		sources = append(sources, ip)
	}
	// Observe runs with a hub locked, on the fleet's goroutines: it only
	// queues the line; one writer prints them.
	lines := make(chan fleetLine, 65536)
	index := make(map[devices.HubID]int, len(spec.Hubs))
	for i, h := range spec.Hubs {
		index[devices.HubID(h)] = spec.First + i
	}
	sosIDs := sync.Map{} // the injected SOS ids, whose PUBACKs are reported
	observe := func(e firmwaresim.HubEvent) {
		l := fleetLine{Hub: index[e.Hub.ID], At: time.Now().UnixNano()}
		switch e.Kind {
		case firmwaresim.EvConnected:
			l.Kind = "on"
		case firmwaresim.EvDisconnected:
			l.Kind = "off"
		case firmwaresim.EvAcked:
			if _, ok := sosIDs.Load(e.EventID); !ok {
				return
			}
			l.Kind, l.ID = "ack", string(e.EventID)
		default:
			return
		}
		lines <- l
	}
	fleet := firmwaresim.NewFleet(firmwaresim.Options{
		Transport: &firmwaresim.TCPTransport{Addr: spec.Target, Sources: sources},
		Seed:      spec.Seed, NoReadings: true, NoEvents: true,
		HeartbeatSeconds: spec.Heartbeat, MaxBackoff: spec.MaxBackoff,
		IDPrefix: spec.IDPrefix, Observe: observe,
	})
	hubs := make([]*firmwaresim.Hub, len(spec.Hubs))
	now := time.Now()
	for i, h := range spec.Hubs {
		hubs[i] = fleet.Add(devices.HubID(h), spec.Secrets[i], uint32(spec.First+i))
		fleet.Start(hubs[i], now.Add(time.Duration(float64(i)/max(spec.ConnectRate, 1)*float64(time.Second))))
	}
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					w.Flush()
					return
				}
				enc.Encode(l)
			case <-tick.C:
				w.Flush()
			}
		}
	})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fleetDone := make(chan struct{})
	go func() { fleet.Run(runCtx); close(fleetDone) }()
	var silenced sync.Map // hub index -> true
	go readOrders(stdin, func(idx int, d time.Duration) {
		if i := idx - spec.First; i >= 0 && i < len(hubs) {
			silenced.Store(idx, true)
			hubs[i].CutLink(d)
		}
	})
	injectClusterSOS(runCtx, spec, hubs, fleet.Clock(), &sosIDs, &silenced, lines)
	<-ctx.Done()
	cancel()
	<-fleetDone
	close(lines)
	wg.Wait()
	return nil
}

// injectClusterSOS publishes SOS events at spec.SOSRate (random gaps, as
// real emergencies come), each on a home not used before, so that a second
// incident for a home can only be a duplicate.
func injectClusterSOS(ctx context.Context, spec fleetSpec, hubs []*firmwaresim.Hub, clock firmwaresim.Clock, ids, silenced *sync.Map, lines chan<- fleetLine) {
	if spec.SOSRate <= 0 || len(hubs) == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 16))
	order := rng.Perm(len(hubs))
	end := time.Now().Add(spec.SOSFor)
	t := time.NewTimer(0)
	defer t.Stop()
	for n := 0; n < len(order); n++ {
		t.Reset(time.Duration(rng.ExpFloat64() / spec.SOSRate * float64(time.Second)))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Now().After(end) {
			return
		}
		if _, off := silenced.Load(spec.First + order[n]); off {
			continue // its SOS could only wait until the end
		}
		h := hubs[order[n]]
		id := devices.EventID(fmt.Sprintf("%ssos-%d", spec.IDPrefix, spec.First+order[n]))
		ids.Store(id, true)
		online := h.Online()
		lines <- fleetLine{Kind: "sos", Hub: spec.First + order[n], ID: string(id), At: time.Now().UnixNano(), Online: online}
		h.Publish(devices.Event{ID: id, Kind: devices.EventSOS, Sensor: firmwaresim.SensorPendant, At: clock.Sim(time.Now())})
	}
}

// readOrders reads the parent's orders until stdin closes; a line it does
// not understand is reported on stderr and skipped.
func readOrders(stdin io.Reader, silence func(idx int, d time.Duration)) {
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		var idx int
		var dur string
		if n, _ := fmt.Sscanf(sc.Text(), "silence %d %s", &idx, &dur); n == 2 {
			if d, err := time.ParseDuration(dur); err == nil {
				silence(idx, d)
				continue
			}
		}
		fmt.Fprintf(os.Stderr, "fleet child: unknown order %q\n", sc.Text())
	}
}
