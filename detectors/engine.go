package detectors

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/wheel"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/crashpoint"
	"github.com/dolbom/dolbom/internal/defaults"
)

// EngineStore keeps the emergency engine's per-home state across restarts:
// inactivity clocks, learned baselines, pending windows and open episodes,
// so that a restart neither forgets a pending emergency nor raises it again.
// Snapshots are opaque bytes, versioned by the engine.
type EngineStore interface {
	// SaveHomes upserts the snapshots by hub id, as one batch.
	SaveHomes(ctx context.Context, homes []HomeSnapshot) error
	LoadHomes(ctx context.Context) ([]HomeSnapshot, error)
	// LoadHome returns one home's snapshot (ok false: none saved). The
	// engine asks it for a home that sends an event while LoadHomes is
	// still running, so that an emergency does not wait for every home.
	LoadHome(ctx context.Context, hub devices.HubID) (snap HomeSnapshot, ok bool, err error)
}

// HomeSnapshot is one home's persisted engine state.
type HomeSnapshot struct {
	Hub  devices.HubID
	Data []byte
	// Epoch is the hub's ownership epoch the state was made under (0 on a
	// single gateway). A cluster store saves it only while it is the hub's
	// current epoch and never over a state of a newer one (a *StaleError
	// names the homes refused). docs/cluster.md, "Fencing".
	Epoch devices.Epoch
}

// EngineConfig configures an Engine. Zero values take the defaults named
// on each field.
type EngineConfig struct {
	Sink  Sink        // required
	Store EngineStore // optional: persistence
	// Journal, optional, is replayed at start from where the saved state
	// left it (see Journal); Replayed tells when that is done.
	Journal Journal
	// OnPoison, optional, receives an input whose handling panicked.
	OnPoison PoisonFunc
	Fleet    Fleet          // optional: sensor locations (kitchen, bathroom) for the steam rule
	Logger   zerolog.Logger // a "component" field is added

	// Thresholds are the defaults for every resident (zero fields take
	// DefaultThresholds); ThresholdsFor may override them per home and
	// returns nil for the defaults. It is called once per home, when the
	// home is first seen or restored.
	Thresholds    Thresholds
	ThresholdsFor func(hub devices.HubID, defaults Thresholds) *Thresholds
	// NewFallTracker makes the accelerometer fall tracker of one wearable;
	// without it accelerometer chunks count only as movement.
	NewFallTracker NewFallTrackerFunc

	Shards    int // default GOMAXPROCS
	QueueSize int // per shard; default 4096

	// TZOffset is the residents' local time offset for hour-of-day
	// learning (default +9 h, Korea).
	TZOffset        *time.Duration
	SaveInterval    time.Duration // episode changes are saved this often (default 5 s)
	SeenInterval    time.Duration // activity-clock-only changes this often (default 1 min)
	ShutdownTimeout time.Duration // bound on the final save (default 10 s)
	Tick            time.Duration // wheel resolution (default 1 s)
	// Clock replaces the wall clock (see Clock); nil: the wall clock.
	Clock Clock
	// RestartGrace holds back inactivity deadlines after the gateway
	// restarts (default 2 min): its own downtime is not the resident's.
	// In a cluster it holds back those of each acquired home likewise.
	RestartGrace time.Duration
	// Cluster starts the engine empty: no bulk load, no global replay or
	// watermark; it watches only the homes this gateway owns, acquired
	// when their hubs connect here under a newer epoch or adopted
	// (Acquire), let go when they move (Release). Store must then load by
	// hub (HomesOfLoader) and Journal replay by hub (HubsReplayer).
	Cluster bool
}

func (c *EngineConfig) setDefaults() error {
	if c.Sink == nil {
		return errors.New("detectors: engine needs a sink")
	}
	c.Thresholds.fill()
	defaults.Set(&c.Shards, runtime.GOMAXPROCS(0))
	defaults.Set(&c.QueueSize, 4096)
	if c.TZOffset == nil {
		kst := 9 * time.Hour
		c.TZOffset = &kst
	}
	def := defaults.Set[time.Duration]
	def(&c.SaveInterval, 5*time.Second)
	def(&c.SeenInterval, time.Minute)
	def(&c.ShutdownTimeout, 10*time.Second)
	def(&c.Tick, time.Second)
	def(&c.RestartGrace, 2*time.Minute)
	return nil
}

// Engine runs the emergency catalogue over everything hubs send. It has the
// shape of broker.Ingester: Ingest and Connection only queue, and return.
//
// Time: rules run on the hubs' timestamps. Each home has an event clock,
// advanced by the newest input, and remembers the offset between the hub's
// clock and the gateway's at that input. Deadlines (a cancel window, an
// inactivity limit) are event times; the shard's wheel holds each home's
// earliest one translated to the gateway clock with that offset. So a
// silent home's clock runs on with the wall clock (the inactivity rule
// fires for a home that sends nothing), while a replayed day, whose inputs
// carry their own times, runs its deadlines as fast as it is fed: an input
// whose time passes a deadline runs that deadline first.
type Engine struct {
	cfg     EngineConfig
	log     zerolog.Logger
	seed    maphash.Seed
	shards  []*engineShard
	stopped chan struct{}
	// replayed is closed once the journal beyond the saved state has been
	// applied (or at start without a journal).
	replayed chan struct{}
	// loaded is closed once every shard has its saved state.
	loaded chan struct{}
	stats  engineStats
	// loader loads the homes acquired in a cluster.
	loader *shard.Loader[savedHome]
}

type engineStats struct {
	queueWaits, dropped, detections, lateIgnored, lateApplied atomic.Uint64
	corruptSnapshots, reemitted, poisoned, lateEmergencies    atomic.Uint64
	acquired, released, staleReleased, unowned, parkOverflow  atomic.Uint64
}

// EngineStats are the engine's counters.
type EngineStats struct {
	QueueWaits uint64 // enqueues that found a shard queue full and waited
	Dropped    uint64 // inputs that arrived after the engine stopped
	Detections uint64
	// LateIgnored counts readings older than their sensor's newest, not
	// applied; LateApplied counts late activity, applied to the learned
	// counts only.
	LateIgnored, LateApplied uint64
	// CorruptSnapshots counts saved homes that could not be read at
	// startup; each started from scratch instead.
	CorruptSnapshots uint64
	// Reemitted counts the open episodes sent to the Sink again at startup
	// (also counted in Detections).
	Reemitted uint64
	// Poisoned counts inputs whose handling panicked (recovered).
	Poisoned uint64
	// LateEmergencies counts emergency events applied more than 100 ms
	// after they were decoded (each is logged with where it waited).
	LateEmergencies uint64
	// In a cluster: homes acquired and released; StaleReleased counts
	// homes let go because a write of theirs was refused as stale (also in
	// Released); Unowned counts inputs for homes not held here, dropped;
	// ParkOverflow, readings of a home being acquired past its parking
	// bound, dropped (its load retried long: the database away).
	Acquired, Released, StaleReleased, Unowned, ParkOverflow uint64
}

// NewEngine validates cfg and builds the engine; Run starts it.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.With().Str("component", "engine").Logger(),
		seed: maphash.MakeSeed(), stopped: make(chan struct{}), replayed: make(chan struct{}), loaded: make(chan struct{})}
	e.shards = make([]*engineShard, cfg.Shards)
	for i := range e.shards {
		e.shards[i] = newEngineShard(e)
	}
	e.loader = e.newLoader()
	return e, nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats {
	return EngineStats{QueueWaits: e.stats.queueWaits.Load(), Dropped: e.stats.dropped.Load(),
		Detections: e.stats.detections.Load(), LateIgnored: e.stats.lateIgnored.Load(), LateApplied: e.stats.lateApplied.Load(),
		CorruptSnapshots: e.stats.corruptSnapshots.Load(), Reemitted: e.stats.reemitted.Load(), Poisoned: e.stats.poisoned.Load(),
		LateEmergencies: e.stats.lateEmergencies.Load(),
		Acquired:        e.stats.acquired.Load(), Released: e.stats.released.Load(), StaleReleased: e.stats.staleReleased.Load(),
		Unowned: e.stats.unowned.Load(), ParkOverflow: e.stats.parkOverflow.Load()}
}

func (e *Engine) shardOf(hub devices.HubID) *engineShard { return e.shards[e.shardIndex(hub)] }

func (e *Engine) shardIndex(hub devices.HubID) int {
	return int(maphash.String(e.seed, string(hub)) % uint64(len(e.shards)))
}

// Replayed is closed once Run has queued the journal's events beyond the
// saved state ahead of any new input: hubs' new messages should wait for
// it, so that a home sees its events in order.
func (e *Engine) Replayed() <-chan struct{} { return e.replayed }

// Loaded is closed once the saved state of every home is loaded. Hubs are
// served before (their events at once, see engineShard.early), but a
// gateway is not ready until it is: inactivity deadlines and learned
// baselines are not watched before.
func (e *Engine) Loaded() <-chan struct{} { return e.loaded }

// Ingest queues a message the broker accepted; m must not be modified
// afterwards. It waits while the shard's queue is full: an emergency is not
// to be dropped, and the wait is counted.
func (e *Engine) Ingest(m *devices.Message) {
	o := engineOp{msg: m}
	if m.Event != nil && m.Event.Kind.IsEmergency() {
		o.queued = e.cfg.Clock.Now() // for lateEmergency
	}
	if m.Readings != nil {
		m.Readings.Retain() // until handled (devices.DecodeShared)
	}
	e.shardOf(m.Hub).put(o)
}

// Advance moves the time of an engine with a Clock to now: each shard runs
// its deadlines up to now after the inputs queued before this call, as
// its wall ticker would. Call it as the Clock moves on, never backwards.
func (e *Engine) Advance(now time.Time) {
	for _, s := range e.shards {
		s.put(engineOp{advance: now})
	}
}

// Step is Advance, returning once every shard has taken the step: every
// input queued before the call is applied and its detections are handed to
// the Sink. A simulated clock's owner steps with it so that what it
// measures does not depend on the machine's speed (dolbom-sim soak).
func (e *Engine) Step(ctx context.Context, now time.Time) error {
	var steps sync.WaitGroup
	steps.Add(len(e.shards))
	for _, s := range e.shards {
		s.put(engineOp{advance: now, stepped: &steps})
	}
	if err := shard.Await(ctx, &steps); err != nil {
		return fmt.Errorf("detectors: step to %s: %w", now.Format(time.RFC3339), err)
	}
	return nil
}

// SharesReadingBatches reports that Ingest retains a readings batch until
// its shard has handled it (devices.ReadingBatch.Retain): the rules keep
// copies of what they need, never the batch.
func (e *Engine) SharesReadingBatches() bool { return true }

// Connection queues a hub's connect or disconnect.
func (e *Engine) Connection(c devices.ConnectionEvent) {
	e.shardOf(c.Hub).put(engineOp{conn: c, isConn: true})
}

// Refresh hands on a registry change: the hub's full sensor list, for
// sensor locations.
func (e *Engine) Refresh(hub devices.HubID, sensors []devices.Sensor) {
	e.shardOf(hub).put(engineOp{refresh: &registryEntry{hub: devices.Hub{ID: hub}, sensors: sensors}})
}

// Run reads the journal's tail, starts one goroutine per shard, loads saved
// state and the registry into them, and runs until ctx ends, saving changed
// homes every SaveInterval and once more after the shards have drained
// their queues. Each shard first sends its restored open episodes to the
// Sink again (see reemitRestored). A saved home that cannot be read is
// logged and starts from scratch: one bad row must not keep every other
// home from being watched.
//
// The shards run while the state loads (6-12 s at 300,000 homes): hubs'
// events are applied at once, each home loaded on its own first (see
// early), and other inputs wait parked, so that no emergency waits for the
// load and no hub is held up by it.
func (e *Engine) Run(ctx context.Context) error {
	start := e.cfg.Clock.Now()
	began := time.Now() // "took" is wall time, whatever the Clock
	// The journal's tail is read before the (slower) state: once it is
	// queued for the shards, ahead of anything new, hubs may be served.
	if !e.cfg.Cluster {
		if err := e.takeJournal(ctx); err != nil {
			// Without it, acknowledged events could be left unapplied: the
			// gateway must not take hubs' messages.
			return err
		}
	}
	shardCtx, stopShards := context.WithCancel(ctx)
	defer stopShards()
	var wg sync.WaitGroup
	for _, s := range e.shards {
		s.wallNow = start.UnixMilli()
		s.restartFloor = start.Add(e.cfg.RestartGrace).UnixMilli()
		wg.Go(func() { s.run(shardCtx) })
	}
	load := e.load
	if e.cfg.Cluster {
		load = e.clusterStart
		wg.Go(func() { e.loader.Run(shardCtx) })
	}
	if err := load(ctx, start); err != nil {
		stopShards()
		wg.Wait()
		return err
	}
	homes := 0
	for _, s := range e.shards {
		select {
		case n := <-s.restored:
			homes += n
		case <-ctx.Done():
		}
	}
	if ctx.Err() == nil {
		close(e.loaded)
		e.log.Info().Int("homes", homes).Int("shards", len(e.shards)).Dur("took", time.Since(began)).Msg("engine started")
	}
	rts := make([]*shard.Shard[engineOp, HomeSnapshot], len(e.shards))
	for i, s := range e.shards {
		rts[i] = s.rt
	}
	err := shard.Run(ctx, e.saver(), rts, func() {
		wg.Wait()
		close(e.stopped)
	}, func(i int) bool {
		// A shard stopped while loading keeps its saved state; the
		// journal replays the rest.
		return e.shards[i].whole
	})
	if err != nil {
		return fmt.Errorf("detectors: final engine save: %w", err)
	}
	e.log.Info().Msg("engine stopped")
	return nil
}

func (e *Engine) saver() *shard.Saver[HomeSnapshot] {
	p := &shard.Saver[HomeSnapshot]{
		Persister: shard.Persister[HomeSnapshot]{Journal: e.cfg.Journal, Consumer: consumerEngine, Log: e.log, What: "engine state",
			Stale: StaleHubs, OnStale: e.ReleaseStale},
		Interval: e.cfg.SaveInterval, SeenInterval: e.cfg.SeenInterval, ShutdownTimeout: e.cfg.ShutdownTimeout,
		HubOf: func(h HomeSnapshot) devices.HubID { return h.Hub },
	}
	if f, ok := e.cfg.Sink.(SinkFlusher); ok {
		p.Flush = f.Flush
	}
	if e.cfg.Store != nil {
		p.Store = e.cfg.Store.SaveHomes
	}
	if e.cfg.Cluster {
		// No global watermark: it is one row per consumer, and each node
		// replays only its own homes' events after their saved positions.
		p.Journal = nil
	}
	return p
}

// takeJournal reads the journal beyond the consumer's watermark into the
// shards' replay lists, which each shard applies (after its restored
// episodes) before any input, and closes replayed.
func (e *Engine) takeJournal(ctx context.Context) error {
	return shard.TakeJournal(ctx, e.cfg.Journal, consumerEngine, e.log, func(m *devices.Message) {
		s := e.shardOf(m.Hub)
		s.replay = append(s.replay, m)
	}, e.replayed)
}

// load reads saved homes and the registry's sensor locations and hands
// each shard its part, which the shard applies (see runEarly).
func (e *Engine) load(ctx context.Context, start time.Time) error {
	parts := make([]shardLoad, len(e.shards))
	if e.cfg.Store != nil {
		snaps, err := e.cfg.Store.LoadHomes(ctx)
		if err != nil {
			return fmt.Errorf("detectors: load engine state: %w", err)
		}
		for _, sn := range snaps {
			k := e.shardIndex(sn.Hub)
			parts[k].snaps = append(parts[k].snaps, sn)
		}
	}
	if e.cfg.Fleet != nil {
		err := e.cfg.Fleet.FleetSnapshot(ctx, func(hub devices.Hub, sensors []devices.Sensor) error {
			k := e.shardIndex(hub.ID)
			parts[k].fleet = append(parts[k].fleet, registryEntry{hub: hub, sensors: sensors})
			return nil
		})
		if err != nil {
			return fmt.Errorf("detectors: load fleet: %w", err)
		}
	}
	for i, s := range e.shards {
		parts[i].start = start
		s.restores <- parts[i]
	}
	return nil
}

// shardLoad is a shard's part of the saved state, and how far the shard
// has restored it.
type shardLoad struct {
	snaps []HomeSnapshot
	fleet []registryEntry
	start time.Time

	next, corrupt int
}

// restore decodes a snapshot into its home and reports whether it could.
// An unreadable one is logged and left out, so the home starts from
// scratch; its row is overwritten at its next save.
func (s *engineShard) restore(sn HomeSnapshot) bool {
	var scratch home
	if err := decodeHome(&scratch, sn.Data); err != nil {
		s.e.stats.corruptSnapshots.Add(1)
		s.e.log.Error().Err(err).Str("hub_id", string(sn.Hub)).Int("bytes", len(sn.Data)).
			Msg("engine snapshot unreadable; the home starts from scratch")
		return false
	}
	h := s.homes.At(s.homeIndex(sn.Hub))
	h.takeSaved(&scratch)
	h.epoch = sn.Epoch
	return true
}

// restoreChunk decodes the next restoreChunkSize snapshots of the shard's
// part of the saved state, except those of homes loaded early, and reports
// whether none are left. The shard serves events between chunks, so that
// an event waits for one chunk (a few ms), not for the whole part.
func (s *engineShard) restoreChunk() (done bool) {
	l := s.loading
	end := min(l.next+restoreChunkSize, len(l.snaps))
	for _, sn := range l.snaps[l.next:end] {
		if _, ok := s.early[sn.Hub]; !ok && !s.restore(sn) {
			l.corrupt++
		}
	}
	clear(l.snaps[l.next:end]) // let the bytes go
	l.next = end
	return end == len(l.snaps)
}

const restoreChunkSize = 1000

// finishLoad applies the registry's sensor locations, arms every home's
// deadline, sends restored open episodes again (those of homes loaded
// early were sent then) and applies the journal's tail; it returns the
// number of homes.
func (s *engineShard) finishLoad() int {
	l := s.loading
	if l.corrupt > 0 {
		s.e.log.Error().Int("corrupt", l.corrupt).Int("snapshots", len(l.snaps)).Msg("some engine snapshots were unreadable")
	}
	for _, r := range l.fleet {
		s.applySensors(s.homes.At(s.homeIndex(r.hub.ID)), r.sensors)
	}
	s.startup(l.start)
	s.reemitRestored()
	for _, m := range s.replay {
		if m != nil {
			s.rt.Apply(engineOp{msg: m})
		}
	}
	s.replay, s.early, s.loading = nil, nil, nil
	s.whole = true
	return int(s.homes.Len())
}

// loadEarly makes a home ready for an event that comes while the shard's
// saved state is still loading: its snapshot is read on its own, its
// restored episodes sent again and its part of the journal's tail applied,
// as finishLoad does for every other home. Once per home.
func (s *engineShard) loadEarly(hub devices.HubID) {
	if s.whole || s.e.cfg.Cluster { // a cluster starts empty: homes come by acquisition
		return
	}
	if _, ok := s.early[hub]; ok {
		return
	}
	_, restored := s.index[hub] // in a chunk already restored
	if l := s.loading; !restored && l != nil {
		// The shard's part of the saved state is in memory already: its
		// snapshot is taken from there, not read again (and a failed read
		// cannot leave the home to start from scratch while its saved
		// state is at hand).
		for _, sn := range l.snaps[l.next:] {
			if sn.Hub == hub {
				s.restore(sn)
				restored = true
				break
			}
		}
		restored = true // not among the saved homes: a new one
	}
	if !restored && s.e.cfg.Store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.e.cfg.ShutdownTimeout)
		sn, ok, err := s.e.cfg.Store.LoadHome(ctx, hub)
		cancel()
		switch {
		case err != nil:
			// The bulk load will most likely fail the same way and stop
			// the engine; until then the event is not held back.
			s.e.log.Error().Err(err).Str("hub_id", string(hub)).Msg("home state not loaded ahead; the home starts from scratch")
		case ok:
			s.restore(sn)
		}
	}
	var replay []*devices.Message
	for k, m := range s.replay {
		if m != nil && m.Hub == hub {
			s.replay[k] = nil
			replay = append(replay, m)
		}
	}
	h := s.homes.At(s.homeIndex(hub))
	s.early[h.id] = struct{}{}
	s.acquireHome(hub, nil, nil, h.epoch, 0, replay)
}

type engineOp struct {
	msg     *devices.Message
	conn    devices.ConnectionEvent
	isConn  bool
	refresh *registryEntry
	queued  time.Time       // an emergency's hand-over to the engine
	advance time.Time       // Advance: time moves on (Clock set)
	stepped *sync.WaitGroup // Step: told once the shard took the step
}

func (o *engineOp) hub() devices.HubID {
	switch {
	case o.msg != nil:
		return o.msg.Hub
	case o.isConn:
		return o.conn.Hub
	case o.refresh != nil && o.refresh.ctl != nil:
		return o.refresh.ctl.Hub()
	case o.refresh != nil:
		return o.refresh.hub.ID
	}
	return ""
}

// engineShard owns the homes that hash to it; only its goroutine touches
// them once Run has started.
type engineShard struct {
	e  *Engine
	rt *shard.Shard[engineOp, HomeSnapshot] // its intake and loop
	// timing is the emergency being handled's times, for its detections
	// (Detection.Timing); nil between messages.
	timing *Timing
	// restores hands the shard its saved state; restored answers with the
	// number of homes once it is applied. Until then the shard is early.
	restores chan shardLoad
	restored chan int
	loading  *shardLoad                 // being restored (runEarly)
	early    map[devices.HubID]struct{} // homes loaded ahead of the rest (loadEarly)
	whole    bool                       // the saved state is applied

	index        map[devices.HubID]int32
	homes        shard.Chunked[home]
	slots        shard.Slots            // indexes of released homes, for reuse
	acq          shard.Holder[engineOp] // a cluster's homes being acquired, with their parked inputs
	wheel        *wheel.Wheel
	rc           ruleCtx
	dirty        shard.SaveQueue    // homes changed since saved
	pos          shard.Positions    // journal shard.Positions applied since handed to the save loop
	replay       []*devices.Message // the journal's tail, applied first (takeJournal)
	restartFloor int64              // wall ms before which restored inactivity does not fire
	wallNow      int64
	onExpired    func(key uint64, t wheel.Timer)
}

func newEngineShard(e *Engine) *engineShard {
	s := &engineShard{e: e,
		restores: make(chan shardLoad, 1), restored: make(chan int, 1), early: map[devices.HubID]struct{}{},
		index: map[devices.HubID]int32{}, dirty: shard.NewSaveQueue(shard.SeenRounds(e.cfg.SaveInterval, e.cfg.SeenInterval))}
	s.rt = shard.NewShard(shard.Machine[engineOp, HomeSnapshot](s), e.cfg.QueueSize, (*engineOp).hub, false)
	s.rc.tzOffsetMs = e.cfg.TZOffset.Milliseconds()
	s.acq = s.holder()
	s.onExpired = func(key uint64, _ wheel.Timer) {
		if i, live := s.slots.Live(key); live {
			s.expire(i)
		} // else armed for a released home whose index is reused
	}
	return s
}

func (s *engineShard) put(o engineOp) {
	s.rt.Put(o, o.msg, s.e.stopped, &s.e.stats.queueWaits, &s.e.stats.dropped)
}

func (s *engineShard) run(ctx context.Context) {
	if !s.runEarly(ctx) {
		return
	}
	s.rt.Run(ctx, s.e.cfg.Clock.TickEvery(s.e.cfg.Tick))
}

// runEarly serves the shard while its saved state loads: events are applied
// at once, each to its home loaded on its own (loadEarly); other inputs are
// parked, up to a limit, so that hubs are not held up. It returns false if
// ctx ended first: nothing parked is applied to homes not loaded.
func (s *engineShard) runEarly(ctx context.Context) bool {
	for s.loading == nil {
		select {
		case <-ctx.Done():
			return false
		case l := <-s.restores:
			s.loading = &l
		case q := <-s.rt.Lanes.Events():
			s.rt.Lanes.TakeEvent(q, s.loadEarly, s.rt.Apply)
		case q := <-s.rt.Lanes.Parking():
			s.rt.Lanes.Park(q)
		}
	}
	// Restoring: a chunk at a time, events and parking in between.
	for {
		if s.rt.Lanes.Event(s.loadEarly, s.rt.Apply) {
			continue
		}
		select {
		case <-ctx.Done():
			return false
		default:
		}
		for parked := true; parked; {
			select {
			case q := <-s.rt.Lanes.Parking():
				s.rt.Lanes.Park(q)
			default:
				parked = false
			}
		}
		if s.restoreChunk() {
			s.restored <- s.finishLoad()
			return true
		}
	}
}

// Recovered handles a panic while handling o (the zero op: a deadline):
// what the rules half produced is dropped, the input is counted, logged and
// handed to OnPoison, and an emergency event still reaches people at face
// value.
func (s *engineShard) Recovered(o engineOp, r any) {
	m := o.msg
	for k := range s.rc.out {
		s.rc.out[k] = emit{}
	}
	s.rc.out = s.rc.out[:0]
	s.e.stats.poisoned.Add(1)
	p := shard.PoisonOf(consumerEngine, m, r)
	shard.LogPoison(s.e.log, p)
	if s.e.cfg.OnPoison != nil && m != nil {
		s.e.cfg.OnPoison(p)
	}
	if m == nil || m.Event == nil {
		return
	}
	if d, ok := fallbackDetection(m.Event); ok {
		defer func() {
			if r := recover(); r != nil { // the Sink itself panicked
				s.e.log.Error().Str("hub_id", string(d.Hub)).Str("panic", fmt.Sprint(r)).Msg("fallback detection lost: the sink panicked")
			}
		}()
		s.e.stats.detections.Add(1)
		s.e.cfg.Sink.Detect(d)
	}
}

func (s *engineShard) startup(start time.Time) {
	s.wallNow = start.UnixMilli()
	s.restartFloor = start.Add(s.e.cfg.RestartGrace).UnixMilli()
	s.wheel = wheel.New(s.e.cfg.Tick, wheel.DefaultSlots, start)
	for i := range s.homes.Len() {
		h := s.homes.At(i)
		h.welfareMs = h.welfareLimit(&s.rc, h.core.LastActivity).Milliseconds()
		h.next = h.nextDeadline(s.floor(h))
		s.rearm(int32(i))
	}
}

// reemitRestored sends every restored open episode to the Sink again,
// before the shard handles any input. A snapshot may be saved after an
// episode went Firing or Pending but before the Sink's consumer made that
// detection durable (dispatch queues it in memory first); a crash in
// between would otherwise leave an emergency that the engine believes was
// sent and dispatch never saw. The Sink keeps one incident per fingerprint
// (see Sink), so a repeat of a detection it did commit is harmless.
//
// A Pending episode goes again with the time left in its window; one whose
// window ended during the downtime is not re-sent as Pending, since the
// wheel's first tick sends it Firing. Closed (resolved or cancelled)
// episodes are not in the state at all, so they are never re-sent.
func (s *engineShard) reemitRestored() {
	for i := range s.homes.Len() {
		if _, ok := s.early[s.homes.At(i).id]; !ok {
			s.reemitHome(s.homes.At(i))
		}
	}
}

// reemitHome sends h's restored open episodes again (see reemitRestored).
func (s *engineShard) reemitHome(h *home) {
	now := max(h.core.Clock, s.wallNow+h.core.Offset)
	for k := epKind(0); k < numKinds; k++ {
		ep := &h.core.Eps[k]
		var state State
		switch ep.State {
		case epFiring:
			state = Firing
		case epPending:
			if ep.Deadline <= now {
				continue
			}
			state = Pending
		default:
			continue
		}
		em := emit{kind: k, state: state, class: h.episodeClass(k), prio: Priority(ep.Prio), episode: ep.Start,
			at: now, sensor: h.episodeSensor(k)}
		age := time.Duration(max(0, now-ep.Start)) * time.Millisecond
		var left time.Duration
		em.facts = []Fact{{Name: "gateway_restart", Value: 1}, {Name: "episode_age", Value: age.Seconds(), Unit: "s"}}
		if state == Pending {
			left = time.Duration(ep.Deadline-now) * time.Millisecond
			em.facts = append(em.facts, Fact{Name: "window_left", Value: left.Seconds(), Unit: "s"})
		}
		if k == kFall && h.core.FallPeak > 0 {
			em.facts = append(em.facts, Fact{Name: "peak", Value: float64(h.core.FallPeak), Unit: "g"})
		}
		if ep.Sensor > 0 {
			for t := range h.tracks {
				if h.tracks[t].Sensor == ep.Sensor-1 {
					em.readings = append(em.readings, h.tracks[t].reading(h))
				}
			}
		}
		em.why = explainRestored(kindCause[k], state, age, left)
		s.emitDetection(h, &em)
		s.e.stats.reemitted.Add(1)
	}
}

// explainRestored says why an episode is sent again and how old it is.
func explainRestored(cause Cause, state State, age, left time.Duration) Explanation {
	name := causeNames[cause]
	x := Explanation{
		Ko: fmt.Sprintf("%s: 게이트웨이 재시작 후 다시 보냄, %s 전 시작", name.Ko, DurKo(age)),
		En: fmt.Sprintf("%s: re-sent after a gateway restart, began %s ago", name.En, DurEn(age)),
	}
	if state == Pending {
		x.Ko += fmt.Sprintf(", 취소 대기 %s 남음", DurKo(left))
		x.En += fmt.Sprintf(", %s left in the cancel window", DurEn(left))
	}
	return x
}

// floor is the restart floor in h's event time: the gateway's, or the
// home's own when it was acquired later (a cluster).
func (s *engineShard) floor(h *home) int64 { return max(s.restartFloor, h.floorMs) + h.core.Offset }

func (s *engineShard) homeIndex(id devices.HubID) int32 {
	if i, ok := s.index[id]; ok {
		return i
	}
	// Kept as it came, not cloned: the broker hands on the connection's
	// own id string (devices.Limits.DecodeFrom), so the next lookups of
	// the connection's messages match this key by pointer, without reading
	// its bytes (a cache miss per message at national scale). At worst a
	// caller's id is a piece of a topic, which it keeps alive.
	th := &s.e.cfg.Thresholds
	if f := s.e.cfg.ThresholdsFor; f != nil {
		if o := f(id, *th); o != nil {
			o.fill()
			th = o
		}
	}
	i, reused := s.slots.Reuse()
	if reused {
		*s.homes.At(i) = home{id: id, th: th}
	} else {
		i = s.homes.Add(home{id: id, th: th})
	}
	s.homes.At(i).core.Present = -1
	s.index[id] = i
	return i
}

func (s *engineShard) applySensors(h *home, sensors []devices.Sensor) {
	for _, sn := range sensors {
		if k := h.sensorIdx(sn.ID); k >= 0 && sn.Location != "" {
			h.sensors[k].loc = codeOf(sn.Location)
		}
	}
}

// Handle applies one input (shard.Machine).
func (s *engineShard) Handle(o engineOp) {
	if o.refresh != nil && o.refresh.ctl != nil {
		s.control(o.refresh.ctl)
		return
	}
	if s.acq.Busy() && !s.acq.Admit(o) {
		return // parked until its home is loaded, or not held here
	}
	switch {
	case !o.advance.IsZero():
		s.Tick(o.advance)
		if o.stepped != nil {
			o.stepped.Done()
		}
	case o.refresh != nil:
		i := s.homeIndex(o.refresh.hub.ID)
		s.applySensors(s.homes.At(i), o.refresh.sensors)
	case o.isConn:
		i := s.homeIndex(o.conn.Hub)
		h := s.homes.At(i)
		now := max(h.core.Clock, o.conn.At.UnixMilli()+h.core.Offset)
		if o.conn.Connected {
			if h.core.HubOffline {
				h.core.HubOffline = false
				h.core.InactivityHold = now + s.e.cfg.RestartGrace.Milliseconds()
				h.dirty |= dirtyState
			}
		} else if lostContact(o.conn.Reason) {
			h.advance(&s.rc, now, s.floor(h))
			h.hubOffline(&s.rc, now)
		}
		s.finish(i)
	case o.msg != nil:
		if !o.queued.IsZero() {
			s.lateEmergency(o)
			// The detections this emergency fires carry its times.
			s.timing = &Timing{Received: o.msg.Event.Received, Journaled: o.queued}
		}
		s.message(o.msg)
		s.timing = nil
		if o.msg.Readings != nil {
			// The rules copied what they keep; not after a panic, whose
			// report may still read it (the collector takes it then).
			o.msg.Readings.Release()
		}
	}
}

// lateEmergencyAfter is the wait past which an emergency event is logged
// with where it waited: before the engine (decoding, the journal's commit,
// the health monitor's queue) or in the engine's shard queue.
const lateEmergencyAfter = 100 * time.Millisecond

func (s *engineShard) lateEmergency(o engineOp) {
	now := s.e.cfg.Clock.Now()
	ev := o.msg.Event
	if ev.Replayed || ev.Received.IsZero() || now.Sub(ev.Received) < lateEmergencyAfter {
		return
	}
	s.e.stats.lateEmergencies.Add(1)
	s.e.log.Warn().Str("hub_id", string(ev.Hub)).Str("event_id", string(ev.ID)).Str("kind", string(ev.Kind)).
		Int64("before_engine_ms", o.queued.Sub(ev.Received).Milliseconds()).
		Int64("engine_queue_ms", now.Sub(o.queued).Milliseconds()).Bool("state_loaded", s.whole).
		Msg("emergency event reached the rules late")
}

// message routes one hub message to the rules.
func (s *engineShard) message(m *devices.Message) {
	i := s.homeIndex(m.Hub)
	h := s.homes.At(i)
	r := &s.rc
	floor := s.floor(h)
	switch {
	case m.Readings != nil:
		recv := m.Readings.Received.UnixMilli()
		for k := range m.Readings.Readings {
			s.reading(h, &m.Readings.Readings[k], recv, floor)
		}
	case m.Event != nil:
		if !s.pos.Take(m.Event, &h.applied) {
			return // applied before the state was saved
		}
		h.dirty |= dirtySeen // the position is saved with the home
		if m.Event.Kind.IsEmergency() {
			crashpoint.Hit("engine-event") // acknowledged, not yet applied
		}
		s.event(h, m.Event, floor)
	case m.Accel != nil:
		s.accel(h, m.Accel, floor)
	case m.Status != nil && m.Status.State == devices.HubOffline:
		// A last will: the hub is gone, as for a lost connection.
		now := max(h.core.Clock, m.Status.Received.UnixMilli()+h.core.Offset)
		h.hubOffline(r, now)
	}
	s.finish(i)
}

// observe notes an input's time: it moves the home's clock (running
// deadlines it passes) and the hub-to-gateway offset.
// A late input (older than the clock) is judged at the hub's present time,
// recv plus the offset, so that a fall reported late by a hub that was
// offline fires at once rather than at the next wheel tick.
func (s *engineShard) observe(h *home, t, recv, floor int64) int64 {
	if t > h.core.Clock && recv != 0 {
		h.core.Offset = t - recv
	}
	now := t
	if recv != 0 {
		now = max(now, recv+h.core.Offset)
	}
	return h.advance(&s.rc, now, floor)
}

func (s *engineShard) reading(h *home, rd *devices.Reading, recv, floor int64) {
	r := &s.rc
	t := rd.At.UnixMilli()
	now := s.observe(h, t, recv, floor)
	code := metricCode(rd.Metric)
	if code == mOther {
		return
	}
	si := h.sensorIdx(rd.Sensor)
	if si < 0 {
		return
	}
	tr := &h.tracks[h.trackIdx(si, code)]
	v := float32(rd.Value)
	if t <= tr.At {
		// Late or duplicate: activity is order-free for the learned counts;
		// every other rule depends on the sequence and ignores it.
		if (code == mMotion && v > 0) || (code == mDoor && v == 1) {
			h.activity(r, t, code == mDoor)
		} else {
			r.lateIgnored++
		}
		return
	}
	prevV, prevAt := tr.Value, tr.At
	tr.updateBase(v, t-prevAt)
	tr.Value, tr.At, tr.Quality = v, t, rd.Quality
	switch code {
	case mSmoke, mHumidity:
		h.fireEval(r, now)
	case mTemperature:
		h.temperature(r, tr, v, t)
		h.fireEval(r, now)
	case mCO:
		h.co(r, tr, v, t, prevV, prevAt)
		h.fireEval(r, now)
	case mGas:
		h.gas(r, tr, v, t)
	case mMotion:
		if v > 0 {
			h.core.LastMotion = max(h.core.LastMotion, t)
			h.activity(r, t, false)
		}
	case mDoor:
		if v == 1 && prevV != 1 {
			h.activity(r, t, true)
		}
	case mPresence:
		h.presence(v, t)
	case mBed:
		h.bedReading(r, v, t, now)
	case mHeart:
		h.heart(r, tr, v, rd.Quality, t)
	case mRespiration:
		h.respiration(r, tr, v, rd.Quality, t)
	}
}

func (s *engineShard) event(h *home, ev *devices.Event, floor int64) {
	r := &s.rc
	t := ev.At.UnixMilli()
	now := s.observe(h, t, ev.Received.UnixMilli(), floor)
	si := -1
	if ev.Sensor != "" {
		si = h.sensorIdx(ev.Sensor)
	}
	switch ev.Kind {
	case devices.EventSOS:
		h.sos(r, t, si, ev.ID)
		h.activity(r, t, false)
	case devices.EventCancel, devices.EventCheckIn:
		h.cancel(r, t, ev.ID, ev.Kind == devices.EventCheckIn)
		h.activity(r, t, false)
	case devices.EventFall:
		peak := float32(0)
		if ev.HasValue {
			peak = float32(ev.Value)
		}
		h.fall(r, t, t, peak, false, si, []devices.EventID{ev.ID}, now)
	case devices.EventSmokeAlarm, devices.EventHeatAlarm, devices.EventCOAlarm, devices.EventGasAlarm:
		h.alarmEvent(r, ev, si, t, now)
	case devices.EventMotion:
		h.core.LastMotion = max(h.core.LastMotion, t)
		h.activity(r, t, false)
	case devices.EventDoorOpen:
		h.activity(r, t, true)
	case devices.EventDoorClose:
		h.activity(r, t, false)
	}
}

// accel feeds a wearable's chunk to its fall tracker; a chunk with movement
// also counts as motion (for "still" and activity).
func (s *engineShard) accel(h *home, c *devices.AccelChunk, floor int64) {
	r := &s.rc
	if len(c.X) == 0 || c.RateHz <= 0 {
		return
	}
	end := c.SampleTime(len(c.X) - 1).UnixMilli()
	now := s.observe(h, end, c.Received.UnixMilli(), floor)
	if moving(c) {
		h.core.LastMotion = max(h.core.LastMotion, end)
	}
	si := h.sensorIdx(c.Sensor)
	if s.e.cfg.NewFallTracker == nil || si < 0 {
		return
	}
	slot := h.trackerSlot(si)
	if slot == nil {
		h.trackers = append(h.trackers, fallTrackerSlot{sensor: h.sensors[si].name})
		slot = &h.trackers[len(h.trackers)-1]
	}
	if slot.tracker == nil { // new, or restored from a snapshot with only its weak finding
		slot.tracker = s.e.cfg.NewFallTracker(h.id, h.sensorID(si))
	}
	tk := slot.tracker
	for _, f := range tk.Feed(c) {
		if f.Recovered {
			h.fallRecovered(r, f, si)
			continue
		}
		if f.Weak {
			h.holdWeak(f, si)
			continue
		}
		h.fall(r, f.Impact.UnixMilli(), f.Detected.UnixMilli(), float32(f.PeakG), f.FromLying, si, nil, now)
	}
}

// moving reports whether a chunk shows movement: the magnitude strays from
// 1 g by more than 0.3 g somewhere (a cheap test; the tracker does the rest).
func moving(c *devices.AccelChunk) bool {
	for i := range c.X {
		m := c.X[i]*c.X[i] + c.Y[i]*c.Y[i] + c.Z[i]*c.Z[i]
		if m > 1.69 || m < 0.49 {
			return true
		}
	}
	return false
}

// Tick advances the wheel to the wall clock (shard.Machine).
func (s *engineShard) Tick(now time.Time) {
	s.wallNow = now.UnixMilli()
	s.wheel.Advance(now, s.onExpired)
}

// expire runs a home's deadline: its event clock moves on with the wall
// clock (translated by its offset), since the hub has sent nothing newer.
func (s *engineShard) expire(i int32) {
	h := s.homes.At(i)
	now := max(h.core.Clock, s.wallNow+h.core.Offset)
	h.tick(&s.rc, now, s.floor(h))
	s.finish(i)
}

// finish emits what the rules produced, recomputes the home's deadline,
// and marks it for saving.
func (s *engineShard) finish(i int32) {
	h := s.homes.At(i)
	r := &s.rc
	if r.lateIgnored != 0 || r.lateApplied != 0 {
		s.e.stats.lateIgnored.Add(r.lateIgnored)
		s.e.stats.lateApplied.Add(r.lateApplied)
		r.lateIgnored, r.lateApplied = 0, 0
	}
	for k := range r.out {
		s.emitDetection(h, &r.out[k])
		r.out[k] = emit{}
	}
	r.out = r.out[:0]
	next := h.nextDeadline(s.floor(h))
	if next != h.next || s.wheel == nil {
		h.next = next
		s.rearm(i)
	} else if _, armed := s.wheel.Deadline(h.timer); !armed && next != 0 {
		s.rearm(i) // it fired, and the next deadline happens to be the same
	}
	if h.dirty != 0 { // the rules' marks since the last step, handed to the queue
		s.dirty.Mark(i, h.dirty&dirtyState != 0)
		h.dirty = 0
	}
}

func (s *engineShard) rearm(i int32) {
	if s.wheel == nil {
		return // still loading; startup arms every home
	}
	h := s.homes.At(i)
	switch {
	case h.next == 0:
		s.wheel.Stop(h.timer)
	case h.timer == 0:
		h.timer = s.wheel.Schedule(s.slots.Key(i), time.UnixMilli(h.next-h.core.Offset))
	default:
		s.wheel.Reschedule(h.timer, time.UnixMilli(h.next-h.core.Offset))
	}
}

func (s *engineShard) emitDetection(h *home, e *emit) {
	cause := kindCause[e.kind]
	if e.cause != "" {
		cause = e.cause
	}
	fpSensor := devices.SensorID("")
	if e.cause == "" && e.kind == kSignalLost {
		fpSensor = e.sensor
	}
	d := Detection{
		Fingerprint: Fingerprint(h.id, cause, fpSensor, time.UnixMilli(e.episode)),
		Hub:         h.id, Sensor: e.sensor, Class: e.class, Cause: cause, Priority: e.prio, State: e.state,
		Episode: time.UnixMilli(e.episode).UTC(), At: time.UnixMilli(e.at).UTC(), Explanation: e.why,
		Evidence: Evidence{Readings: e.readings, Events: e.events, Facts: e.facts}, Epoch: h.epoch,
	}
	if s.timing != nil {
		t := *s.timing
		d.Timing = &t
	}
	s.e.stats.detections.Add(1)
	s.e.log.Debug().Str("hub_id", string(h.id)).Str("cause", string(cause)).Str("state", string(d.State)).
		Int("priority", int(d.Priority)).Str("fingerprint", d.Fingerprint).Msg("detection")
	s.e.cfg.Sink.Detect(d)
}

// collect encodes the homes changed since they were last saved that are
// due in the round of seen slot slot (shard.EverySlot: all of them), at most
// limit of them (0: all). more says homes may be left for the next call.
func (s *engineShard) collect(slot, limit int) (out []HomeSnapshot, more bool) {
	return shard.CollectQueued(&s.dirty, slot, limit, s.snapshot)
}

// Save answers the save loop (shard.Machine).
func (s *engineShard) Save(slot, limit int) shard.SaveReply[HomeSnapshot] {
	homes, more := s.collect(slot, limit)
	return shard.ReplyWith(homes, more, &s.pos)
}

func (s *engineShard) snapshot(i int32) HomeSnapshot {
	h := s.homes.At(i)
	return HomeSnapshot{Hub: h.id, Data: encodeHome(h), Epoch: h.epoch}
}

// lostContact reports whether a disconnect means the home can no longer be
// reached: a dropped link or a kicked session. A hub that said goodbye
// (clean), was replaced by its own new connection (taken_over), or was let
// go by the gateway shutting down, or dropped by it after its message could
// not be handled (poison: it reconnects at once) is not an emergency's escalation; the
// health monitor still marks a hub that stays away offline.
func lostContact(reason string) bool {
	switch reason {
	case "clean", "taken_over", "shutdown", "poison":
		return false
	}
	return true
}
