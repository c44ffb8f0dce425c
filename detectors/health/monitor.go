package health

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/defaults"
)

// consumer is the monitor's journal consumer name, as saved in the store.
const consumer = "device_health"

// Store keeps hub health across restarts, with the open fault
// episodes, so that a restart neither forgets an open fault nor raises it
// again under a new fingerprint.
type Store interface {
	// SaveHubHealth upserts the records by hub id.
	SaveHubHealth(ctx context.Context, records []devices.HubHealthRecord) error
	LoadHubHealth(ctx context.Context) ([]devices.HubHealthRecord, error)
}

// Config configures a Monitor. Zero durations and thresholds
// take the defaults named on each field.
type Config struct {
	Sink  detectors.Sink  // required
	Fleet detectors.Fleet // optional: registry knowledge loaded at start
	Store Store           // optional: persistence
	// Journal, optional, is replayed at start from where the saved health
	// left it (see Journal); Replayed tells when that is done.
	Journal detectors.Journal
	// OnPoison, optional, receives an input whose handling panicked.
	OnPoison   detectors.PoisonFunc
	Logger     zerolog.Logger // a "component" field is added
	Registerer prometheus.Registerer

	Shards    int // default GOMAXPROCS
	QueueSize int // per shard; default 4096

	// HeartbeatTimeout is how long a hub may be silent before it is offline
	// when it announced no heartbeat interval (default 10 min); a hub that
	// announced one gets HeartbeatFactor times it (default 2.5).
	HeartbeatTimeout time.Duration
	HeartbeatFactor  float64
	// OfflineGrace is how long a disconnected hub has to reconnect before
	// hub_offline fires (default 60 s): a flapping link raises nothing.
	OfflineGrace time.Duration
	// OnlineHold is how long a hub must stay connected before hub_offline
	// resolves (default 60 s): an episode of flapping is one episode.
	OnlineHold time.Duration
	// RestartGrace gives hubs time to reconnect after the gateway itself
	// restarts before a deadline re-armed from a saved last-seen fires
	// (default 2 min): the gateway's own downtime is not the hubs' fault.
	RestartGrace time.Duration

	BatteryLow float64 // % below which battery_low fires (default 20)
	BatteryOK  float64 // % at or above which it resolves (default 25)

	// A sensor is silent after max(SupervisionFactor x its reporting
	// interval, SupervisionFloor) without a reading or event (defaults 3
	// and 5 min).
	SupervisionFactor float64
	SupervisionFloor  time.Duration
	// SensorFaultClear: a sensor_fault resolves once the sensor has kept
	// reporting this long after its last fault or tamper event (default
	// 30 min).
	SensorFaultClear time.Duration

	// ClockSkewTolerance is how far a hub's clock may be off before
	// clock_skew fires (default 2 min); it resolves within half of it.
	ClockSkewTolerance time.Duration

	// Clock replaces the wall clock (see detectors.Clock); nil: the wall
	// clock.
	Clock detectors.Clock

	SaveInterval     time.Duration // state changes are saved this often (default 5 s)
	SeenSaveInterval time.Duration // last-seen-only changes this often (default 1 min)
	EndOfLifeCheck   time.Duration // end of life is checked this often (default 24 h)
	ShutdownTimeout  time.Duration // bound on the final save (default 10 s)
	Tick             time.Duration // wheel resolution (default 1 s)

	// Cluster starts the monitor empty, as the engine's Cluster does: no
	// bulk load of health or registry, no global replay or watermark; it
	// watches only the hubs this gateway owns (Acquire, Release). Store
	// must then load by hub (HubsOfLoader) and Journal replay by hub
	// (detectors.HubsReplayer).
	Cluster bool
}

func (c *Config) setDefaults() error {
	if c.Sink == nil {
		return errors.New("detectors: health monitor needs a sink")
	}
	def := defaults.Set[time.Duration]
	deff := defaults.Set[float64]
	defaults.Set(&c.Shards, runtime.GOMAXPROCS(0))
	defaults.Set(&c.QueueSize, 4096)
	def(&c.HeartbeatTimeout, 10*time.Minute)
	deff(&c.HeartbeatFactor, 2.5)
	def(&c.OfflineGrace, time.Minute)
	def(&c.OnlineHold, time.Minute)
	def(&c.RestartGrace, 2*time.Minute)
	deff(&c.BatteryLow, 20)
	deff(&c.BatteryOK, 25)
	if c.BatteryOK < c.BatteryLow {
		return fmt.Errorf("detectors: battery ok level %g below low level %g", c.BatteryOK, c.BatteryLow)
	}
	deff(&c.SupervisionFactor, 3)
	def(&c.SupervisionFloor, 5*time.Minute)
	def(&c.SensorFaultClear, 30*time.Minute)
	def(&c.ClockSkewTolerance, 2*time.Minute)
	def(&c.SaveInterval, 5*time.Second)
	def(&c.SeenSaveInterval, time.Minute)
	def(&c.EndOfLifeCheck, 24*time.Hour)
	def(&c.ShutdownTimeout, 10*time.Second)
	def(&c.Tick, time.Second)
	return nil
}

// Monitor keeps the device health of every hub and emits a
// DeviceHealth detection whenever a fault starts or ends. It has the shape of
// broker.Ingester: Ingest and Connection only queue, and return.
type Monitor struct {
	cfg     Config
	log     zerolog.Logger
	seed    maphash.Seed
	shards  []*hubShard
	running atomic.Bool
	stopped chan struct{} // closed once the shards have exited
	// replayed is closed once the journal beyond the saved health has been
	// applied (or at start without a journal).
	replayed chan struct{}
	loaded   chan struct{} // see Loaded
	stats    stats
	// loader loads the hubs acquired in a cluster.
	loader *shard.Loader[devices.HubHealthRecord]
}

// New validates cfg and builds the monitor; Run starts it.
// Ingest and Connection may be called before Run: they queue.
func New(cfg Config) (*Monitor, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := &Monitor{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "health").Logger(),
		seed:     maphash.MakeSeed(),
		stopped:  make(chan struct{}),
		replayed: make(chan struct{}),
		loaded:   make(chan struct{}),
	}
	m.shards = make([]*hubShard, cfg.Shards)
	for i := range m.shards {
		m.shards[i] = newHubShard(m)
	}
	m.loader = m.newLoader()
	if cfg.Registerer != nil {
		if err := m.stats.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("detectors: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Monitor) shardOf(hub devices.HubID) *hubShard {
	return m.shards[maphash.String(m.seed, string(hub))%uint64(len(m.shards))]
}

// Ingest queues a message the broker accepted. m must not be modified
// afterwards. It blocks while the hub's shard queue is full.
func (m *Monitor) Ingest(msg *devices.Message) {
	if msg.Readings != nil {
		msg.Readings.Retain() // until handled (devices.DecodeShared)
	}
	m.shardOf(msg.Hub).put(m, op{kind: opMessage, msg: msg})
}

// Advance moves the time of a monitor with a Clock to now, in order with
// the inputs queued before (see detectors.Engine.Advance).
func (m *Monitor) Advance(now time.Time) {
	for _, s := range m.shards {
		s.put(m, op{kind: opAdvance, at: now})
	}
}

// Step is Advance, returning once every shard has taken the step (see
// detectors.Engine.Step).
func (m *Monitor) Step(ctx context.Context, now time.Time) error {
	var steps sync.WaitGroup
	steps.Add(len(m.shards))
	for _, s := range m.shards {
		s.put(m, op{kind: opAdvance, at: now, stepped: &steps})
	}
	if err := shard.Await(ctx, &steps); err != nil {
		return fmt.Errorf("health: step to %s: %w", now.Format(time.RFC3339), err)
	}
	return nil
}

// SharesReadingBatches reports that Ingest retains a readings batch until
// its shard has handled it, as the Engine does.
func (m *Monitor) SharesReadingBatches() bool { return true }

// Connection queues a hub's connect or disconnect.
func (m *Monitor) Connection(c devices.ConnectionEvent) {
	m.shardOf(c.Hub).put(m, op{kind: opConnection, conn: c})
}

// Refresh hands on a registry change: a hub added, changed (end of life,
// disabled) or its sensors changed. sensors is the hub's full list.
func (m *Monitor) Refresh(hub devices.Hub, sensors []devices.Sensor) {
	m.shardOf(hub.ID).put(m, op{kind: opRefresh, refresh: &registryEntry{hub: hub, sensors: sensors}})
}

// Health returns what the monitor knows of a hub. It is safe to call from
// any goroutine; it asks the hub's shard, ahead of its ingest queue. It
// reports false for an unknown hub or when the monitor is not running.
func (m *Monitor) Health(hub devices.HubID) (devices.HubHealth, bool) {
	if !m.running.Load() {
		return devices.HubHealth{}, false
	}
	s := m.shardOf(hub)
	reply := make(chan healthReply, 1)
	q := func() { // on the shard's goroutine
		i, ok := s.index[hub]
		if !ok {
			reply <- healthReply{}
			return
		}
		reply <- healthReply{health: s.hubHealth(s.hubs.At(i)), ok: true}
	}
	select {
	case s.rt.Queries <- q:
	case <-m.stopped:
		return devices.HubHealth{}, false
	}
	r := <-reply
	return r.health, r.ok
}

// Stats are the monitor's counters.
type Stats struct {
	HubsOnline int64
	// QueueWaits counts enqueues that found a shard queue full and waited.
	QueueWaits uint64
	// Dropped counts messages that arrived after the monitor stopped.
	Dropped    uint64
	Detections uint64
	// In a cluster: hubs acquired and released; StaleReleased counts hubs
	// let go after a refused write (also in Released); Unowned counts
	// inputs for hubs not held here, dropped; ParkOverflow, inputs of a hub
	// being acquired past its parking bound, dropped.
	Acquired, Released, StaleReleased, Unowned, ParkOverflow uint64
}

// Stats returns the monitor's counters.
func (m *Monitor) Stats() Stats {
	return Stats{
		HubsOnline: m.stats.hubsOnline.Load(),
		QueueWaits: m.stats.queueWaits.Load(),
		Dropped:    m.stats.dropped.Load(),
		Detections: m.stats.detections.Load(),
		Acquired:   m.stats.acquired.Load(), Released: m.stats.released.Load(),
		StaleReleased: m.stats.staleReleased.Load(), Unowned: m.stats.unowned.Load(), ParkOverflow: m.stats.parkOverflow.Load(),
	}
}

// Run loads the saved health and the registry, then runs one goroutine per
// shard until ctx ends; it saves changed hubs every SaveInterval and once
// more after the shards have drained their queues. The shard goroutines
// start first and park what hubs send while the state loads (see
// hubShard.run), so that no hub, and no emergency behind it in the engine, is
// held up by the load.
func (m *Monitor) Run(ctx context.Context) error {
	start := m.cfg.Clock.Now()
	began := time.Now() // "took" is wall time, whatever the Clock
	load := m.load
	if m.cfg.Cluster {
		// Empty: hubs come by acquisition (Acquire).
		if err := m.clusterCheck(); err != nil {
			return err
		}
		close(m.replayed)
		load = func(context.Context, time.Time) (int, error) { return 0, nil }
	} else if err := m.takeJournal(ctx); err != nil { // the journal's tail first (see Engine.Run)
		return err
	}
	shardCtx, stopShards := context.WithCancel(ctx)
	defer stopShards()
	var wg sync.WaitGroup
	for _, s := range m.shards {
		wg.Go(func() { s.run(shardCtx) })
	}
	if m.cfg.Cluster {
		wg.Go(func() { m.loader.Run(shardCtx) })
	}
	// The shard goroutines touch only their lanes until begin is closed.
	restored, err := load(ctx, start)
	if err != nil {
		stopShards()
		wg.Wait()
		return err
	}
	hubs := 0
	for _, s := range m.shards {
		s.startup(start)
		hubs += int(s.hubs.Len())
		close(s.begin)
	}
	close(m.loaded)
	m.log.Info().Int("hubs", hubs).Int("restored", restored).Int("shards", len(m.shards)).
		Dur("took", time.Since(began)).Msg("health monitor started")
	m.running.Store(true)

	sv := &shard.Saver[devices.HubHealthRecord]{
		Persister: shard.Persister[devices.HubHealthRecord]{Journal: m.cfg.Journal, Consumer: consumer, Log: m.log, What: "hub health",
			Stale: detectors.StaleHubs, OnStale: m.ReleaseStale},
		Interval: m.cfg.SaveInterval, SeenInterval: m.cfg.SeenSaveInterval, ShutdownTimeout: m.cfg.ShutdownTimeout,
		HubOf: func(r devices.HubHealthRecord) devices.HubID { return r.Hub },
	}
	if f, ok := m.cfg.Sink.(detectors.SinkFlusher); ok {
		sv.Flush = f.Flush
	}
	if m.cfg.Store != nil {
		sv.Store = m.cfg.Store.SaveHubHealth
	}
	if m.cfg.Cluster {
		sv.Journal = nil // no global watermark (see the engine's saver)
	}
	rts := make([]*shard.Shard[op, devices.HubHealthRecord], len(m.shards))
	for i, s := range m.shards {
		rts[i] = s.rt
	}
	err = shard.Run(ctx, sv, rts, func() {
		wg.Wait()
		m.running.Store(false)
		close(m.stopped)
	}, nil)
	if err != nil {
		return fmt.Errorf("detectors: final health save: %w", err)
	}
	m.log.Info().Msg("health monitor stopped")
	return nil
}

// Replayed is closed once Run has queued the journal's events beyond the
// saved health ahead of any new input.
func (m *Monitor) Replayed() <-chan struct{} { return m.replayed }

// Loaded is closed once the saved health is loaded and the shards apply
// what hubs send (parked until then).
func (m *Monitor) Loaded() <-chan struct{} { return m.loaded }

// takeJournal reads the journal beyond the consumer's watermark into the
// shards' replay lists, applied before any input, and closes replayed.
func (m *Monitor) takeJournal(ctx context.Context) error {
	return shard.TakeJournal(ctx, m.cfg.Journal, consumer, m.log, func(msg *devices.Message) {
		s := m.shardOf(msg.Hub)
		s.replay = append(s.replay, msg)
	}, m.replayed)
}

// load restores saved health, then applies the registry. It runs before
// the shard goroutines begin (they only park inputs), so it may touch shard
// state directly.
func (m *Monitor) load(ctx context.Context, start time.Time) (restored int, err error) {
	if m.cfg.Store != nil {
		records, err := m.cfg.Store.LoadHubHealth(ctx)
		if err != nil {
			return 0, fmt.Errorf("detectors: load hub health: %w", err)
		}
		for i := range records {
			m.shardOf(records[i].Hub).restore(&records[i], start)
		}
		restored = len(records)
	}
	if m.cfg.Fleet == nil {
		return restored, nil
	}
	err = m.cfg.Fleet.FleetSnapshot(ctx, func(hub devices.Hub, sensors []devices.Sensor) error {
		s := m.shardOf(hub.ID)
		i := s.hubIndex(hub.ID)
		s.applyRegistry(i, hub, sensors, start)
		s.hubs.At(i).flags |= fRegistered
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("detectors: load fleet: %w", err)
	}
	// A saved hub the registry no longer has is kept for the API but
	// watched no more.
	for _, s := range m.shards {
		for i := range s.hubs.Len() {
			if s.hubs.At(i).flags&fRegistered == 0 {
				s.hubs.At(i).flags |= fDisabled
			}
		}
	}
	return restored, nil
}

// put enqueues o, waiting while the queue is full: device health is not
// worth dropping a disconnect for, and a full queue means the shard is
// behind, which the wait counter shows.
func (s *hubShard) put(m *Monitor, o op) {
	s.rt.Put(o, o.msg, m.stopped, &m.stats.queueWaits, &m.stats.dropped)
}

// stats are updated by the shards with atomics (no locks) and read by
// Stats and Prometheus.
type stats struct {
	hubsOnline    atomic.Int64
	queueWaits    atomic.Uint64
	dropped       atomic.Uint64
	detections    atomic.Uint64
	poisoned      atomic.Uint64
	acquired      atomic.Uint64
	released      atomic.Uint64
	staleReleased atomic.Uint64
	unowned       atomic.Uint64
	parkOverflow  atomic.Uint64
	faultsActive  [len(healthCauses)]atomic.Int64
}

func (st *stats) register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dolbom_health_hubs_online", Help: "Hubs the health monitor considers online."},
			func() float64 { return float64(st.hubsOnline.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dolbom_health_queue_waits_total", Help: "Enqueues that waited for a full shard queue."},
			func() float64 { return float64(st.queueWaits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dolbom_health_dropped_total", Help: "Messages that arrived after the monitor stopped."},
			func() float64 { return float64(st.dropped.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dolbom_health_detections_total", Help: "Device-health detections emitted (firing and resolved)."},
			func() float64 { return float64(st.detections.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dolbom_health_panics_total", Help: "Inputs whose handling panicked (recovered, kept as poison). Must stay 0."},
			func() float64 { return float64(st.poisoned.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dolbom_health_acquired_total", Help: "Hubs taken into the monitor in a cluster (claimed here or adopted)."},
			func() float64 { return float64(st.acquired.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dolbom_health_released_total", Help: "Hubs let go in a cluster (moved to another gateway, or a write refused as stale)."},
			func() float64 { return float64(st.released.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dolbom_health_stale_released_total", Help: "Hubs let go because the store refused a write of theirs as stale."},
			func() float64 { return float64(st.staleReleased.Load()) }),
	}
	for i, c := range healthCauses {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dolbom_health_faults_active", Help: "Open device-health faults by cause.",
			ConstLabels: prometheus.Labels{"cause": string(c)},
		}, func() float64 { return float64(st.faultsActive[i].Load()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
