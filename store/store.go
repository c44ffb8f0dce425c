// Package store keeps Dolbom's data: the registry of residents, hubs and
// sensors, the journal of what hubs send (events, readings, accelerometer
// chunks), rollups, incident evidence and device health.
//
// Two back ends share every method and one contract test suite
// (store/storetest): embedded SQLite under a data directory (the default,
// needing nothing installed) and PostgreSQL when a database URL is given.
//
// Writes on the ingest path never take one transaction per message: events
// are group-committed by one writer goroutine that wakes every waiter after
// the commit, and readings are queued in a bounded buffer that a second
// writer flushes in large batches (COPY on PostgreSQL), one row per received
// batch with its readings packed in a blob (readings_codec.go). Hourly
// rollups are not merged on that path: a sealer writes each hub's hourly
// blob once, from the raw batches, after the hour has ended
// (rollup_seal.go). Run drives both writers, the sealer and the retention
// job; everything accepted is written before Run returns.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/internal/defaults"
)

var (
	// ErrSchemaTooNew means the database was migrated by a newer binary.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrClosed is returned by appends after Run stopped taking new work.
	ErrClosed = errors.New("store: closed")
)

// Config configures Open. Zero durations and sizes take the defaults noted.
type Config struct {
	// DataDir holds the SQLite databases (dolbom.db, readings.db, state.db)
	// when DatabaseURL is empty.
	DataDir string
	// DatabaseURL selects PostgreSQL (postgres://...).
	DatabaseURL string
	// SecretKey is the 32-byte AES-256 key for secrets at rest (door codes).
	SecretKey []byte
	Logger    zerolog.Logger
	// Registerer receives the store's metrics when non-nil.
	Registerer prometheus.Registerer

	RawRetention        time.Duration // raw readings, default 72h
	HourRollupRetention time.Duration // hourly rollups, default 2 years
	AccelRetention      time.Duration // accelerometer chunks, default 24h
	MaintenanceInterval time.Duration // how often retention runs, default 10m

	FlushInterval time.Duration // readings flush period, default 200ms
	// FlushRows is readings (not batches) per flush transaction, default
	// 50,000. Each flush rewrites a (hub_id, from_us) index leaf per hub it
	// holds, so larger flushes write fewer pages per reading; the readings
	// have their own file and write lock (readings.db), so a longer flush
	// holds no event's commit back.
	FlushRows   int
	SampleQueue int // queued reading batches and chunks, default 4096
	EventQueue  int // queued events waiting for a commit, default 8192
	EventBatch  int // most events in one commit, default 1024
	// EventWriters is how many event groups may be in flight at once,
	// default 1. On PostgreSQL a group arriving while another commits can
	// then go on its own connection instead of waiting for that commit;
	// on SQLite (one write lock) a second group would only wait for it.
	EventWriters int
	DrainTimeout time.Duration // how long a failing flush is retried at shutdown, default 30s

	// CommitTimeout bounds one event commit, default 5s (commits take
	// milliseconds): past it the commit is abandoned, its events are
	// refused (the hubs get no PUBACK and send again) and the writer goes
	// on, so that a hung database cannot hold a PUBACK past the hubs' own
	// timeout. It also bounds the monitor's write probe.
	CommitTimeout time.Duration
	// The monitor pings the database every HealthInterval (default 1s),
	// each ping bounded by PingTimeout (default 3s): while pings fail, Ping
	// (/readyz) says so, and appends and credential lookups fail at once
	// with ErrUnavailable (CONNECTs are refused as server unavailable).
	HealthInterval time.Duration
	PingTimeout    time.Duration

	// Hourly rollups are sealed from the raw batches once per hub and hour
	// (rollup_seal.go). Hour H is sealed once now >= H + 1h + SealGrace:
	// the grace lets store-and-forward data, which arrives late, land
	// before the seal. A flush writes a rollup_dirty marker for each row of
	// an hour H with H + 1h + SealGrace - SealMargin <= now (the hour may
	// be sealed already, or be sealed before the flush commits), and the
	// sealer recomputes those hours. SealMargin makes that exact: the
	// sealer reads H's rows no earlier than H + 1h + SealGrace, so a flush
	// that wrote no marker and whose rows the sealer could still miss
	// (committed after the sealer's read) would have to run longer than
	// SealMargin from reading the clock to its commit. The margin also
	// covers clock skew between gateways sharing a database.
	SealGrace  time.Duration // default 10m
	SealMargin time.Duration // longer than any flush transaction, default 5m
	// SealInterval is how often the sealer looks for due hours and dirty
	// markers, default 1m; negative turns the loop off (tests that seal by
	// hand).
	SealInterval time.Duration
	// SealChunk is hubs per sealing transaction, default 1000; SealPause
	// is the pause between chunks, default 1s, so that sealing an hour at
	// national scale (300 chunks) spreads over five minutes instead of
	// competing with the emergency writers for the two cores (an hour is
	// sealed 10 minutes after it ends; five minutes of sealing fit).
	SealChunk int
	SealPause time.Duration

	// Now is the clock for CreatedAt and retention; default time.Now.
	Now func() time.Time

	// Cluster opens the store for one gateway of a cluster on PostgreSQL
	// (refused on the embedded store): every per-home write (state and
	// health saves, event appends, detections' incident changes) is fenced
	// by its ownership epoch, outbox leases run on the database's clock
	// and check-in commands go only to the hub's owner (fence.go;
	// docs/cluster.md). Off, the single gateway's statements are exactly
	// those it ran before clusters existed.
	Cluster bool
}

func (c *Config) setDefaults() {
	def := defaults.Set[time.Duration]
	defInt := defaults.Set[int]
	def(&c.RawRetention, 72*time.Hour)
	def(&c.HourRollupRetention, 2*365*24*time.Hour)
	def(&c.AccelRetention, 24*time.Hour)
	def(&c.MaintenanceInterval, 10*time.Minute)
	def(&c.FlushInterval, 200*time.Millisecond)
	def(&c.DrainTimeout, 30*time.Second)
	def(&c.CommitTimeout, 5*time.Second)
	def(&c.HealthInterval, time.Second)
	def(&c.PingTimeout, 3*time.Second)
	def(&c.SealGrace, 10*time.Minute)
	def(&c.SealMargin, 5*time.Minute)
	if c.SealInterval == 0 {
		c.SealInterval = time.Minute
	}
	def(&c.SealPause, time.Second)
	defInt(&c.SealChunk, 1000)
	defInt(&c.FlushRows, 50000)
	defInt(&c.SampleQueue, 4096)
	defInt(&c.EventQueue, 8192)
	defInt(&c.EventBatch, 1024)
	defInt(&c.EventWriters, 1)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Store is the persistence of one gateway: one database, whose methods
// are split by concern into sub-stores that share it. Its methods are safe
// for concurrent use.
type Store struct {
	*database
}

// database is the one backend (and its pools, queues and writers) that the
// Store and every sub-store share. It has no exported methods, so that each
// exported method lives on exactly one type.
type database struct {
	cfg Config
	log zerolog.Logger
	be  backend
	// rd holds the readings tables (backend.readings): be itself on
	// PostgreSQL, readings.db on the embedded store.
	rd backend
	// st holds the State sub-store's tables and the journal positions
	// (backend.state): be itself on PostgreSQL, state.db on the embedded
	// store.
	st      backend
	sealer  *sealer
	metrics *metrics

	eventQ  chan *eventReq
	sampleQ chan sampleItem
	// cursors track, per journal consumer, the committed events it has not
	// yet reported applied (journal_replay.go).
	cursors cursors
	creds   credentialBatcher

	// claims batches a cluster member's hub claims (Cluster.Claim).
	claims clusterClaims
	// names are the cluster node names this process runs as, each held
	// by a session lock (cluster_names.go).
	names nameLocks
	// member is the cluster member this store's gateway joined as (the
	// newest Join): in cluster mode its outbox claims take only the
	// command rows of hubs it owns (fence.go).
	member atomic.Pointer[cluster.Member]

	avail availability

	// intake guards the queues' senders so that Run can stop intake and
	// then drain knowing that no send is still in flight.
	intake struct {
		sync.Mutex
		closed  bool
		senders int
		idle    chan struct{} // closed once closed && senders == 0
	}
	runOnce sync.Once

	// sealMu keeps one sealing pass at a time in this process (the loop
	// and tests calling it directly).
	sealMu sync.Mutex
	// afterDirtyDelete, when set (tests only), runs inside the transaction
	// that took a chunk of rollup_dirty markers, right after the DELETE.
	afterDirtyDelete func()
	// sealInterrupt, when set (tests only), is called after each sealed
	// chunk of hubs; an error stops the sealing there, as a crash would.
	sealInterrupt func(chunk int) error
}

// Open connects to (or creates) the database, applies pending migrations and
// returns a Store. Call Run to start its writers and Close when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if cfg.Cluster && cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("store: %w", cluster.ErrNeedsPostgres)
	}
	sl, err := newSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("component", "store").Logger()
	var be backend
	if cfg.DatabaseURL != "" {
		be, err = openPostgres(ctx, cfg.DatabaseURL)
	} else {
		be, err = openSQLite(ctx, cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	if pg, ok := be.(*postgresBackend); ok {
		pg.fenced = cfg.Cluster
	}
	if err := migrate(ctx, be, log, cfg.Now()); err != nil {
		be.close()
		return nil, err
	}
	if sb, ok := be.(*sqliteBackend); ok {
		if err := sb.splitFiles(ctx, log); err != nil {
			be.close()
			return nil, err
		}
	}
	s := &database{
		cfg: cfg, log: log, be: be, rd: be.readings(), st: be.state(), sealer: sl,
		eventQ:  make(chan *eventReq, cfg.EventQueue),
		sampleQ: make(chan sampleItem, cfg.SampleQueue),
	}
	s.intake.idle = make(chan struct{})
	s.avail.log = log
	s.creds = newCredentialBatcher(s.hubCredentials)
	s.metrics, err = newMetrics(cfg.Registerer,
		func() float64 { return float64(len(s.eventQ)) },
		func() float64 { return float64(len(s.sampleQ)) },
		func() float64 {
			if s.avail.err() != nil {
				return 0
			}
			return 1
		})
	if err != nil {
		be.close()
		return nil, err
	}
	log.Info().Str("backend", be.name()).Msg("store opened")
	return &Store{database: s}, nil
}

// Backend returns "sqlite" or "postgres".
func (s *Store) Backend() string { return s.be.name() }

// Close stops intake and closes the database. Cancel Run's context and wait
// for Run to return first, or queued work is lost.
func (s *Store) Close() {
	s.stopIntake()
	s.names.releaseNames()
	s.be.close()
}

// Run runs the journal writers, the rollup sealer, the retention job, the
// WAL checkpoints (SQLite) and the availability monitor until ctx ends, then
// stops intake and writes everything already accepted before returning.
func (s *Store) Run(ctx context.Context) error {
	first := false
	s.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("store: Run called twice")
	}
	// Writes during the drain must outlive ctx.
	writeCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(3 + s.cfg.EventWriters)
	for range s.cfg.EventWriters {
		go func() { defer wg.Done(); s.runEventWriter(writeCtx) }()
	}
	go func() { defer wg.Done(); s.runSampleWriter(writeCtx) }()
	go func() { defer wg.Done(); s.runMaintenance(ctx) }()
	go func() { defer wg.Done(); s.runSealer(ctx) }()
	// The monitor runs until the drain is over, so that Ping stays true.
	monitorCtx, stopMonitor := context.WithCancel(writeCtx)
	monitorDone := make(chan struct{})
	go func() { defer close(monitorDone); s.runMonitor(monitorCtx) }()
	defer func() { stopMonitor(); <-monitorDone }()
	type checkpointer interface {
		checkpointLoop(ctx context.Context, report func(checkpointOutcome, error))
	}
	for _, f := range []struct {
		be   backend
		path string
	}{{s.be, pathCheckpoint}, {s.rd, pathReadingsCheckpoint}, {s.st, pathStateCheckpoint}} {
		cp, ok := f.be.(checkpointer)
		if !ok || (f.path != pathCheckpoint && f.be == s.be) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp.checkpointLoop(ctx, func(out checkpointOutcome, err error) { s.checkpointed(f.path, out, err) })
		}()
	}
	<-ctx.Done()
	s.stopIntake()
	wg.Wait()
	s.log.Info().Msg("store drained")
	return nil
}

// checkpointed records one pass of a WAL checkpoint loop (path names the
// file's: dolbom.db's, readings.db's or state.db's).
func (s *database) checkpointed(path string, out checkpointOutcome, err error) {
	s.avail.wrote(path, err)
	// Held is what events waited for: dolbom.db's checkpoint only
	// (readings.db's holds back the readings writer alone, state.db's the
	// state saves and journal positions).
	if out.Held > 0 && path == pathCheckpoint {
		s.metrics.checkpointHeld.Observe(out.Held.Seconds())
	}
	if out.Presync > 0 && path == pathCheckpoint {
		s.metrics.checkpointPresync.Observe(out.Presync.Seconds())
	}
	switch {
	case err != nil:
		s.metrics.checkpoints.WithLabelValues("failed").Inc()
	case out.Rewound:
		s.metrics.checkpoints.WithLabelValues("rewound").Inc()
	case out.Deferred:
		s.metrics.checkpoints.WithLabelValues("deferred").Inc()
	case out.Small:
		s.metrics.checkpoints.WithLabelValues("copied").Inc()
	default:
		s.metrics.checkpoints.WithLabelValues("not_rewound").Inc()
	}
	if out.Truncated {
		s.metrics.checkpoints.WithLabelValues("truncated").Inc()
	}
}

// enter registers a sender on the queues; it fails once intake stopped.
func (s *database) enter() error {
	s.intake.Lock()
	defer s.intake.Unlock()
	if s.intake.closed {
		return ErrClosed
	}
	s.intake.senders++
	return nil
}

func (s *database) leave() {
	s.intake.Lock()
	defer s.intake.Unlock()
	s.intake.senders--
	if s.intake.closed && s.intake.senders == 0 {
		close(s.intake.idle)
	}
}

func (s *database) stopIntake() {
	s.intake.Lock()
	defer s.intake.Unlock()
	if s.intake.closed {
		return
	}
	s.intake.closed = true
	if s.intake.senders == 0 {
		close(s.intake.idle)
	}
}

type metrics struct {
	commitSeconds *prometheus.HistogramVec
	rowsWritten   *prometheus.CounterVec
	dropped       prometheus.Counter
	eventBatch    prometheus.Histogram
	// eventStage splits each event's wait for its commit (the durable
	// PUBACK's store part) into stages, to tell where a tail comes from.
	eventStage *prometheus.HistogramVec
	// rollupSeal counts the sealer's work and the flushes' markers.
	rollupSeal *prometheus.CounterVec
	// checkpoints counts the SQLite WAL checkpoint passes by outcome.
	checkpoints *prometheus.CounterVec
	// checkpointHeld is how long each pass held SQLite's writers back.
	checkpointHeld prometheus.Histogram
	// checkpointPresync is how long each rewind's syncs took beside the
	// writers, before the gate.
	checkpointPresync prometheus.Histogram
	// staleRejected counts per-home writes refused because their epoch is
	// no longer the hub's (cluster mode, fence.go).
	staleRejected *prometheus.CounterVec
}

// newMetrics reads the queue depths and readiness only when scraped, so
// the hot path pays nothing for them.
func newMetrics(reg prometheus.Registerer, eventDepth, sampleDepth, ready func() float64) (*metrics, error) {
	depth := func(queue string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "dolbom_store_queue_depth",
			Help:        "Items waiting for the store's writers (events awaiting a commit; reading batches and accel chunks awaiting a flush).",
			ConstLabels: prometheus.Labels{"queue": queue},
		}, f)
	}
	m := &metrics{
		commitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dolbom_store_commit_seconds",
			Help:    "Duration of the store's group commits.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"kind"}),
		rowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dolbom_store_rows_written_total",
			Help: "Rows written by the store's writers.",
		}, []string{"kind"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dolbom_store_readings_dropped_total",
			Help: "Accepted readings the store failed to write before giving up at shutdown. Must stay 0.",
		}),
		eventBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dolbom_store_event_commit_batch_size",
			Help:    "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		eventStage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dolbom_store_event_stage_seconds",
			Help: "Per event appended to the journal: queue (from the call until the writer takes it into a group commit), lock (the group waiting for what its commit needs: SQLite's write lock, a PostgreSQL connection), commit (the group's statements and commit, fsync included).",
			// 50 µs to ~370 ms in steps of 1.5: fine enough to place a
			// millisecond tail.
			Buckets: prometheus.ExponentialBuckets(50e-6, 1.5, 23),
		}, []string{"stage"}),
		rollupSeal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dolbom_store_rollup_seal_total",
			Help: "Hourly rollup sealing: hours and hub_hours sealed from the raw batches, late-data markers written by flushes (markers_written), markers recomputed (markers_recomputed), late hub-hours merged directly because their raw rows may be gone (merged_old).",
		}, []string{"what"}),
		checkpointHeld: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dolbom_store_wal_checkpoint_held_seconds",
			Help:    "How long each dolbom.db WAL checkpoint pass held the writers back (its second pass, and a truncation): every event arriving meanwhile waits for it.",
			Buckets: prometheus.ExponentialBuckets(250e-6, 2, 12),
		}),
		checkpointPresync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dolbom_store_wal_checkpoint_presync_seconds",
			Help:    "How long each dolbom.db rewind's syncs of the database file and the WAL took beside the writers, before its gated pass: what that pass no longer syncs with every writer held back.",
			Buckets: prometheus.ExponentialBuckets(250e-6, 2, 12),
		}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dolbom_store_wal_checkpoints_total",
			Help: "SQLite WAL checkpoint passes (one a second per database file, dolbom.db, readings.db and state.db): copied (the WAL, under 16 MiB, was copied beside the writers and left to grow), rewound (the WAL starts over at the next commit), not_rewound (a reader's older snapshot kept part of it; tried again next time), deferred (more than 1 MiB was still to copy after three passes beside the writers: they were not held back, tried again next time), failed; truncated counts the passes that also truncated a WAL grown past its reset size, holding the writers back meanwhile.",
		}, []string{"result"}),
		staleRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dolbom_cluster_stale_writes_rejected_total",
			Help: "Per-home writes refused because the hub's home moved to another gateway (a stale ownership epoch): home_state and hub_health saves (per home), events (the hub gets no PUBACK and resends to the owner), detections (incident changes). 0 on a single gateway.",
		}, []string{"what"}),
	}
	if reg != nil {
		readyGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dolbom_store_ready",
			Help: "1 while the store's database answers and its writes succeed, 0 while not (the reason is on /readyz and in the log).",
		}, ready)
		for _, c := range []prometheus.Collector{depth("events", eventDepth), depth("samples", sampleDepth), readyGauge, m.commitSeconds, m.rowsWritten, m.dropped, m.eventBatch, m.eventStage, m.rollupSeal, m.checkpoints, m.checkpointHeld, m.checkpointPresync, m.staleRejected} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("store: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Ping reports, for /readyz, whether the store can take writes: nil, or
// why not. It never waits longer than PingTimeout. While Run runs it
// returns the monitor's findings (the database unreachable, a write path
// failing, see availability) without waiting; otherwise it pings.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.avail.err(); err != nil || s.avail.monitored.Load() {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PingTimeout)
	defer cancel()
	if err := s.be.ping(ctx); err != nil {
		return fmt.Errorf("%w: ping: %v", ErrUnavailable, err)
	}
	return nil
}
