package firmwaresim

import (
	"context"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// PahoOptions configure a PahoFleet.
type PahoOptions struct {
	// Dial opens a connection to the broker (TCP, or MemListener.DialConn).
	Dial  func(ctx context.Context) (net.Conn, error)
	Clock Clock
	Seed  uint64
	// NoReadings turns the minute batches off.
	NoReadings bool
	// ConnectRate is how many hubs start connecting per second (default 200).
	ConnectRate float64
	Logger      zerolog.Logger
}

// PahoFleet plays homes with the Eclipse paho client: about ten goroutines
// and 33 KB per hub, so it is for small realistic runs and for brokers the
// raw hubs should be checked against, not for national scale. Paho keeps
// the session (QoS 1 resent after a reconnect), reconnects with backoff and
// buffers publishes made while it reconnects; the homes and the answers to
// commands are the same as the raw hubs'.
type PahoFleet struct {
	opts  PahoOptions
	hubs  []*PahoHub
	stats fleetStats
	log   zerolog.Logger
}

// PahoHub is one home on a paho client.
type PahoHub struct {
	fleet  *PahoFleet
	ID     devices.HubID
	Secret string
	Home   Home
	// Answer is the resident's answer to check-in commands.
	Answer Answer

	c       mqtt.Client
	mu      sync.Mutex
	minute  int64 // sim ms: the next minute whose batch is due
	phase   int64
	pending []devices.Event
}

// NewPahoFleet returns an empty fleet.
func NewPahoFleet(o PahoOptions) *PahoFleet {
	if o.Clock.Speed == 0 {
		o.Clock = NewClock(time.Now(), 1, 0)
	}
	if o.ConnectRate <= 0 {
		o.ConnectRate = 200
	}
	return &PahoFleet{opts: o, log: o.Logger.With().Str("component", "firmware_sim_paho").Logger()}
}

// Add creates a hub for home index i.
func (f *PahoFleet) Add(id devices.HubID, secret string, index uint32) *PahoHub {
	h := &PahoHub{fleet: f, ID: id, Secret: secret}
	h.Home = Home{Seed: f.opts.Seed, Index: index, HubBattery: 100}
	h.phase = int64(rand.New(rand.NewPCG(f.opts.Seed, uint64(index)+1)).IntN(60000))
	f.hubs = append(f.hubs, h)
	return h
}

// Hubs returns the hubs added so far.
func (f *PahoFleet) Hubs() []*PahoHub { return f.hubs }

// Stats returns a snapshot.
func (f *PahoFleet) Stats() Stats {
	s := &f.stats
	return Stats{Hubs: len(f.hubs), Online: s.online.Load(), Connects: s.connects.Load(), Disconnects: s.disconnects.Load(),
		Dials: s.dials.Load(), Published: s.published.Load(), Acked: s.acked.Load(), Emergencies: s.emergencies.Load(),
		Commands: s.commands.Load(), Puback: s.puback.Summary(), EmergencyPuback: s.emergencyPuback.Summary()}
}

// Run connects the hubs at the configured rate and makes every home's
// readings and events on one goroutine until ctx ends; then every client
// disconnects.
func (f *PahoFleet) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		gap := time.Duration(float64(time.Second) / f.opts.ConnectRate)
		for _, h := range f.hubs {
			if ctx.Err() != nil {
				return
			}
			h.connect(ctx)
			time.Sleep(gap)
		}
	})
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			for _, h := range f.hubs {
				if h.c != nil {
					h.c.Disconnect(100)
				}
			}
			return nil
		case now := <-t.C:
			for _, h := range f.hubs {
				h.generate(f.opts.Clock.Sim(now))
			}
		}
	}
}

func (h *PahoHub) connect(ctx context.Context) {
	f := h.fleet
	o := mqtt.NewClientOptions().AddBroker("tcp://gateway:1883").SetClientID(string(h.ID)).
		SetUsername(string(h.ID)).SetPassword(h.Secret).SetCleanSession(false).SetOrderMatters(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5*time.Minute).SetKeepAlive(60*time.Second).SetProtocolVersion(4).
		SetBinaryWill(devices.Topic(h.ID, devices.ChanStatus), devices.EncodeStatus(devices.Status{State: devices.HubOffline, Model: "SIM-P"}), 1, true).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
			f.stats.dials.Add(1)
			dctx, cancel := context.WithTimeout(ctx, connectTimeout)
			defer cancel()
			return f.opts.Dial(dctx)
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			f.stats.online.Add(1)
			f.stats.connects.Add(1)
			c.Subscribe(devices.Topic(h.ID, devices.ChanCmd), 1, h.onCommand)
			h.publish(devices.ChanStatus, devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: f.opts.Clock.Sim(time.Now()),
				Firmware: "sim-paho", Model: "SIM-P", HeartbeatInterval: 5 * time.Minute}), false, true)
		}).
		SetConnectionLostHandler(func(mqtt.Client, error) {
			f.stats.online.Add(-1)
			f.stats.disconnects.Add(1)
		})
	h.c = mqtt.NewClient(o)
	h.c.Connect() // with ConnectRetry it keeps trying in the background
}

// publish sends at QoS 1 and records the PUBACK latency when it comes.
func (h *PahoHub) publish(ch devices.Channel, payload []byte, emergency, retain bool) {
	f := h.fleet
	start := time.Now()
	tok := h.c.Publish(devices.Topic(h.ID, ch), 1, retain, payload)
	f.stats.published.Add(1)
	if emergency {
		f.stats.emergencies.Add(1)
	}
	go func() {
		<-tok.Done()
		if tok.Error() != nil {
			return
		}
		lat := time.Since(start)
		f.stats.acked.Add(1)
		f.stats.puback.Record(lat)
		if emergency {
			f.stats.emergencyPuback.Record(lat)
		}
	}()
}

func (h *PahoHub) onCommand(_ mqtt.Client, m mqtt.Message) {
	f := h.fleet
	f.stats.commands.Add(1)
	cmd, err := devices.DecodeCommand(m.Payload())
	if err != nil {
		return
	}
	acks, ev, _ := AnswerCommand(cmd, h.Answer, f.opts.Clock.Sim(time.Now()))
	for i, a := range acks {
		h.publish(devices.ChanCmdAck, devices.EncodeCmdAck(a), false, false)
		if i == 0 && ev != nil {
			h.publish(devices.ChanEvents, devices.EncodeEvent(*ev), ev.Kind.IsEmergency(), false)
		}
	}
}

// generate publishes what the home produced up to sim time.
func (h *PahoHub) generate(sim time.Time) {
	if h.c == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ms := sim.UnixMilli()
	if h.minute == 0 {
		h.minute = (ms/60000 + 1) * 60000
		h.pending = h.Home.Events(nil, time.UnixMilli(h.minute-60000))
		for len(h.pending) > 0 && h.pending[0].At.UnixMilli() <= ms {
			h.pending = h.pending[1:]
		}
	}
	for len(h.pending) > 0 && h.pending[0].At.UnixMilli() <= ms {
		e := h.pending[0]
		h.pending = h.pending[1:]
		h.publish(devices.ChanEvents, devices.EncodeEvent(e), e.Kind.IsEmergency(), false)
	}
	for steps := 0; ms >= h.minute+h.phase && steps < 10; steps++ {
		if !h.fleet.opts.NoReadings {
			if rs := h.Home.Readings(nil, time.UnixMilli(h.minute-60000)); len(rs) > 0 {
				h.publish(devices.ChanReadings, devices.EncodeReadings(devices.ReadingBatch{SentAt: sim, Readings: rs}), false, false)
			}
		}
		h.pending = h.Home.Events(h.pending, time.UnixMilli(h.minute))
		h.minute += 60000
	}
}

// Publish sends an event at QoS 1 (paho buffers it while reconnecting).
func (h *PahoHub) Publish(e devices.Event) {
	if h.c == nil {
		return
	}
	h.publish(devices.ChanEvents, devices.EncodeEvent(e), e.Kind.IsEmergency(), false)
}

// Refused is always false: paho does not say why a connect failed.
func (h *PahoHub) Refused() bool { return false }

// Online reports whether the client is connected.
func (h *PahoHub) Online() bool { return h.c != nil && h.c.IsConnectionOpen() }
