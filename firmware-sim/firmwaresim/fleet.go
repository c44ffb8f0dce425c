package firmwaresim

import (
	"container/heap"
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// Options configure a Fleet.
type Options struct {
	Transport Transport
	Clock     Clock
	Seed      uint64
	// Version is the MQTT protocol version hubs speak: 4 (3.1.1) or 5.
	Version byte
	// Keepalive in seconds (default 60).
	Keepalive uint16
	// HeartbeatSeconds is the heartbeat interval in wall seconds (default 300).
	HeartbeatSeconds uint16
	// MaxBackoff caps the reconnect backoff (default 300 s, protocol 17.1).
	MaxBackoff time.Duration
	// AuthRetry is the least wait after refused credentials (default 15 min).
	AuthRetry time.Duration
	// Shards is the number of scheduler goroutines (default GOMAXPROCS).
	Shards int
	// Dialers is the number of goroutines that open links (default 8).
	Dialers int
	// MaxConnecting bounds the hubs between dialling and their CONNACK
	// (default 1,000). Hubs past it wait in a queue, which costs them
	// nothing, instead of piling CONNECTs into a gateway that verifies
	// secrets at a fixed rate: a CONNECT that waits there longer than the
	// gateway's timeout is refused and its hub backs off for seconds, so an
	// unbounded burst connects the fleet slower, not faster.
	MaxConnecting int
	// NoReadings turns the minute batches off (scenarios that send their
	// own readings).
	NoReadings bool
	// NoEvents turns the simulated day's events (motion, doors, meals) off:
	// the acceptance scenarios script every event themselves, and a
	// routine door opening would take an inactivity scenario "out".
	NoEvents bool
	// VendorKey is the ed25519 key hubs verify firmware signatures with
	// (nil: every signature is refused).
	VendorKey ed25519.PublicKey
	// OTAFailureRate is the share of firmware installs that fail
	// (acknowledged failed "install"), spread evenly over the fleet's
	// installs (Fleet.injectFailure).
	OTAFailureRate float64
	// Reboot is how long a hub is away booting a new image (default 10 s).
	Reboot time.Duration
	// HTTPClient fetches firmware images (default: a client with a 30 s
	// timeout); the in-process simulator reaches the gateway in memory.
	HTTPClient *http.Client
	// IDPrefix starts every generated event id (unique per run).
	IDPrefix string
	// Observe, when set, is told what hubs see. It runs with the hub locked:
	// it must not call the hub's methods.
	Observe func(HubEvent)
	Logger  zerolog.Logger
}

// HubEventKind says what a HubEvent reports.
type HubEventKind uint8

const (
	EvConnected HubEventKind = iota
	EvDisconnected
	EvAcked   // a PUBACK of an event (EventID, Latency, Code)
	EvCommand // a command arrived (CommandID, Detail = type)
	EvReject  // a reject arrived (EventID if any, Detail = code: error)
)

// HubEvent is something a hub saw.
type HubEvent struct {
	Hub       *Hub
	Kind      HubEventKind
	EventID   devices.EventID
	CommandID devices.CommandID
	Latency   time.Duration
	Code      byte
	Detail    string
}

// Fleet runs many hubs on a few goroutines: Shards scheduler goroutines keep
// a heap of wake-up times each, and Dialers goroutines open links. No hub
// has a goroutine or timer of its own.
type Fleet struct {
	opts   Options
	clock  Clock
	hubs   []*Hub
	shards []*shard
	// dialQ is the hubs waiting for a dialer, oldest first; dialWake tells
	// one idle dialer that it is not empty. slots holds a token per hub
	// between dialling and CONNACK (Options.MaxConnecting).
	dialMu   sync.Mutex
	dialQ    []dialReq
	dialHead int
	dialWake chan struct{}
	slots    chan struct{}
	started  int64
	stats    fleetStats
	images   imageCache
	log      zerolog.Logger
}

type dialReq struct {
	h  *Hub
	rx *hubRx
}

type fleetStats struct {
	online, connects, disconnects, dials, refusedConnects atomic.Int64
	deniedConnects, refusedHubs                           atomic.Int64
	published, acked, resent, refused                     atomic.Int64
	emergencies, rejects, commands                        atomic.Int64
	droppedBatches, droppedEvents                         atomic.Int64
	puback, emergencyPuback                               Histogram
	installs, otaFailed, reboots                          atomic.Int64
}

// NewFleet returns an empty fleet.
func NewFleet(o Options) *Fleet {
	if o.Version == 0 {
		o.Version = 4
	}
	if o.Keepalive == 0 {
		o.Keepalive = 60
	}
	if o.HeartbeatSeconds == 0 {
		o.HeartbeatSeconds = 300
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = maxBackoff
	}
	if o.AuthRetry <= 0 {
		o.AuthRetry = 15 * time.Minute
	}
	if o.Shards <= 0 {
		o.Shards = runtime.GOMAXPROCS(0)
	}
	if o.Dialers <= 0 {
		o.Dialers = 8
	}
	if o.MaxConnecting <= 0 {
		o.MaxConnecting = 1000
	}
	if o.Clock.Speed == 0 {
		o.Clock = NewClock(time.Now(), 1, 0)
	}
	f := &Fleet{opts: o, clock: o.Clock, dialWake: make(chan struct{}, 1), slots: make(chan struct{}, o.MaxConnecting),
		started: time.Now().UnixNano(),
		log:     o.Logger.With().Str("component", "firmware_sim").Logger()}
	f.images.client = o.HTTPClient
	for range o.Shards {
		f.shards = append(f.shards, &shard{wake: make(chan struct{}, 1)})
	}
	return f
}

// Clock returns the fleet's clock.
func (f *Fleet) Clock() Clock { return f.clock }

// Add creates a hub for home index i with its credentials. The hub starts
// connecting at wall time start (see Start).
func (f *Fleet) Add(id devices.HubID, secret string, index uint32) *Hub {
	h := &Hub{fleet: f, ID: id, Secret: secret, heartS: f.opts.HeartbeatSeconds}
	h.Home = Home{Seed: f.opts.Seed, Index: index, IDPrefix: f.opts.IDPrefix, HubBattery: 100}
	h.rnd.Seed(f.opts.Seed^0x5bd1e995, uint64(index))
	// Batches spread over the minute, each hub at its own offset.
	h.phase = int64(rand.New(rand.NewPCG(f.opts.Seed, uint64(index)+1)).IntN(60000))
	h.state = stStopped
	f.hubs = append(f.hubs, h)
	return h
}

// Hubs returns the hubs added so far.
func (f *Fleet) Hubs() []*Hub { return f.hubs }

// Start lets h connect at wall time at.
func (f *Fleet) Start(h *Hub, at time.Time) {
	h.mu.Lock()
	h.state = stOffline
	h.retryAt = at.UnixNano()
	h.mu.Unlock()
	f.schedule(h, at.UnixNano())
}

func (f *Fleet) shardOf(h *Hub) *shard {
	return f.shards[int(h.Home.Index)%len(f.shards)]
}

// schedule asks for h.tick at wall time at (or earlier if already asked).
func (f *Fleet) schedule(h *Hub, at int64) {
	if at <= 0 {
		return
	}
	for {
		cur := h.nextWake.Load()
		if cur != 0 && cur <= at {
			return
		}
		if h.nextWake.CompareAndSwap(cur, at) {
			break
		}
	}
	s := f.shardOf(h)
	s.mu.Lock()
	heap.Push(&s.q, wakeup{at: at, h: h})
	first := s.q[0].h == h && s.q[0].at == at
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// scheduleLocked is schedule from code that holds h.mu (schedule itself
// takes only the shard's lock, so it is safe there too).
func (f *Fleet) scheduleLocked(h *Hub, at int64) { f.schedule(h, at) }

// dial queues h for a dialer.
func (f *Fleet) dial(h *Hub, rx *hubRx) {
	f.dialMu.Lock()
	f.dialQ = append(f.dialQ, dialReq{h, rx})
	f.dialMu.Unlock()
	f.wakeDialer()
}

func (f *Fleet) wakeDialer() {
	select {
	case f.dialWake <- struct{}{}:
	default:
	}
}

// nextDial takes the oldest queued hub; a dialer that took one while more
// wait wakes the next dialer, so one wake-up token serves every dialer.
func (f *Fleet) nextDial() (dialReq, bool) {
	f.dialMu.Lock()
	defer f.dialMu.Unlock()
	if f.dialHead == len(f.dialQ) {
		return dialReq{}, false
	}
	d := f.dialQ[f.dialHead]
	f.dialQ[f.dialHead] = dialReq{}
	f.dialHead++
	if f.dialHead == len(f.dialQ) {
		f.dialQ, f.dialHead = f.dialQ[:0], 0
	} else {
		f.wakeDialer()
	}
	return d, true
}

// releaseSlot gives back a hub's connecting token (held from its dial to
// its CONNACK or its drop).
func (f *Fleet) releaseSlot(h *Hub) {
	if h.slot {
		h.slot = false
		<-f.slots
	}
}

// dialer opens links for queued hubs, at most MaxConnecting hubs waiting
// for a CONNACK at once.
func (f *Fleet) dialer(ctx context.Context) {
	for {
		d, ok := f.nextDial()
		for !ok {
			select {
			case <-ctx.Done():
				return
			case <-f.dialWake:
			}
			d, ok = f.nextDial()
		}
		select {
		case <-ctx.Done():
			return
		case f.slots <- struct{}{}:
		}
		dctx, cancel := context.WithTimeout(ctx, connectTimeout)
		link, err := f.opts.Transport.Dial(dctx, d.rx)
		cancel()
		d.h.connected(d.rx.gen, link, err)
	}
}

func (f *Fleet) observe(e HubEvent) {
	if f.opts.Observe != nil {
		f.opts.Observe(e)
	}
}

// Run drives the fleet until ctx ends; then every hub is stopped.
func (f *Fleet) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range f.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx)
		}()
	}
	for range f.opts.Dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.dialer(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	for _, h := range f.hubs {
		h.Stop()
	}
	return nil
}

type wakeup struct {
	at int64
	h  *Hub
}

type wakeHeap []wakeup

func (q wakeHeap) Len() int           { return len(q) }
func (q wakeHeap) Less(i, j int) bool { return q[i].at < q[j].at }
func (q wakeHeap) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *wakeHeap) Push(x any)        { *q = append(*q, x.(wakeup)) }
func (q *wakeHeap) Pop() any {
	old := *q
	w := old[len(old)-1]
	*q = old[:len(old)-1]
	return w
}

type shard struct {
	mu   sync.Mutex
	q    wakeHeap
	wake chan struct{}
}

func (s *shard) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now().UnixNano()
		s.mu.Lock()
		if len(s.q) == 0 || s.q[0].at > now {
			wait := time.Hour
			if len(s.q) > 0 {
				wait = time.Duration(s.q[0].at - now)
			}
			s.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-timer.C:
			}
			continue
		}
		w := heap.Pop(&s.q).(wakeup)
		s.mu.Unlock()
		if !w.h.nextWake.CompareAndSwap(w.at, 0) {
			continue // superseded by an earlier wake-up
		}
		if next := w.h.tick(now); next > 0 {
			w.h.fleet.schedule(w.h, next)
		}
	}
}

// Stats is a snapshot of what the fleet did.
type Stats struct {
	Hubs        int   `json:"hubs"`
	Online      int64 `json:"online"`
	Connects    int64 `json:"connects"`
	Disconnects int64 `json:"disconnects"`
	Dials       int64 `json:"dials"`
	// RefusedConnects counts CONNACKs that refused a CONNECT as busy or
	// unavailable (MQTT 5 0x88, 0x89, 0x9F; 3.1.1 0x03): every attempt,
	// so a hub refused five times while backing off counts five.
	// RefusedHubs is the hubs refused that way on their last attempt and
	// not admitted since (the homes the gateway had no place for at the
	// snapshot); DeniedConnects counts the other refusals (credentials,
	// identifier, will). The paho fleet counts none of these (paho does not
	// say why a connect failed).
	RefusedConnects int64          `json:"refused_connects"`
	RefusedHubs     int64          `json:"refused_hubs"`
	DeniedConnects  int64          `json:"denied_connects"`
	Published       int64          `json:"published"`
	Acked           int64          `json:"acked"`
	Resent          int64          `json:"resent"`
	Refused         int64          `json:"refused"` // PUBACK reason >= 0x80 (MQTT 5)
	Emergencies     int64          `json:"emergencies"`
	Rejects         int64          `json:"rejects"`
	Commands        int64          `json:"commands"`
	DroppedBatches  int64          `json:"dropped_batches"`
	DroppedEvents   int64          `json:"dropped_events"`
	Puback          LatencySummary `json:"puback_ms"`
	EmergencyPuback LatencySummary `json:"emergency_puback_ms"`
	// Firmware updates: installs attempted (past verification), failed
	// updates (any reason, injected ones included) and reboots into a new
	// image.
	OTAInstalls int64 `json:"ota_installs"`
	OTAFailed   int64 `json:"ota_failed"`
	OTAReboots  int64 `json:"ota_reboots"`
}

// Stats returns a snapshot.
func (f *Fleet) Stats() Stats {
	s := &f.stats
	return Stats{Hubs: len(f.hubs), Online: s.online.Load(), Connects: s.connects.Load(), Disconnects: s.disconnects.Load(),
		Dials: s.dials.Load(), RefusedConnects: s.refusedConnects.Load(), RefusedHubs: s.refusedHubs.Load(),
		DeniedConnects: s.deniedConnects.Load(), Published: s.published.Load(), Acked: s.acked.Load(),
		Resent: s.resent.Load(), Refused: s.refused.Load(), Emergencies: s.emergencies.Load(), Rejects: s.rejects.Load(),
		Commands: s.commands.Load(), DroppedBatches: s.droppedBatches.Load(), DroppedEvents: s.droppedEvents.Load(),
		Puback: s.puback.Summary(), EmergencyPuback: s.emergencyPuback.Summary(),
		OTAInstalls: s.installs.Load(), OTAFailed: s.otaFailed.Load(), OTAReboots: s.reboots.Load()}
}

func (s Stats) String() string {
	return fmt.Sprintf("online=%d/%d published=%d acked=%d puback_p99=%.1fms", s.Online, s.Hubs, s.Published, s.Acked, s.Puback.P99)
}
