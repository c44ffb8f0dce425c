// Package gateway assembles dolbomd from its stages: store, broker,
// detectors, dispatch, and the HTTP API. It is the wiring that cmd/dolbomd
// runs as a process and cmd/dolbom-sim runs in-process for scenarios and
// load tests. Only this package knows every concrete type.
package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/web"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/health"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/twilio"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/dispatch/workorder"
	"github.com/dolbom/dolbom/internal/defaults"
	"github.com/dolbom/dolbom/internal/every"
	"github.com/dolbom/dolbom/ota"
	"github.com/dolbom/dolbom/store"
)

// Options configures a gateway. cmd/dolbomd fills it from flags and
// DOLBOM_* variables.
type Options struct {
	DataDir     string
	DatabaseURL string
	MQTTAddr    string // broker.ListenerOff for none
	TLSAddr     string
	CertFile    string
	KeyFile     string
	WSAddr      string
	HTTPAddr    string // "" for no HTTP server (in-process use)
	// HTTP bounds the HTTP server's requests; zero fields take the
	// defaults (see HTTPLimits).
	HTTP       HTTPLimits
	AdminToken string
	// SecureCookies marks console cookies Secure (pages served over TLS,
	// directly or behind a proxy).
	SecureCookies bool
	// TrustedProxies are the reverse proxies in front of the HTTP listener
	// whose X-Forwarded-For the console believes (web.Config).
	TrustedProxies []netip.Prefix
	// SecretKey is the 64-hex-digit AES-256 key for secrets at rest (door
	// codes). Every gateway on one PostgreSQL must share it; empty: a key
	// file kept in DataDir.
	SecretKey string

	HeartbeatTimeout time.Duration
	RawRetention     time.Duration
	ShutdownTimeout  time.Duration

	// Broker overrides broker settings beyond the listeners (rate limits,
	// buffers); zero fields take the broker's defaults.
	Broker broker.Config
	// Listener, when set, is an extra listener added to the broker, such as
	// an in-memory one (broker.NewPipeListener) through which the simulator
	// connects hubs without sockets.
	Listener net.Listener
	// Demo provisions a demo home on an empty registry and prints how to
	// use it.
	Demo bool

	// Channels configures CAP to 119 and Twilio (a built-in fake Twilio
	// stands in without an account).
	Channels ChannelOptions
	// DispatchPolicy is a JSON escalation policy file overriding the
	// built-in defaults (docs/dispatch.md); empty: the defaults.
	DispatchPolicy string

	// OnDetection, when set, sees every detection the detectors hand on
	// (the simulator measures detection latency and SisFall results).
	OnDetection func(detectors.Detection)

	// Cluster makes the gateway one node of a cluster on one PostgreSQL
	// database (docs/cluster.md); off, it is the single gateway.
	Cluster ClusterOptions

	// Firmware configures firmware rollouts (ota.go).
	Firmware FirmwareOptions
}

// Tuning adjusts the stages' settings beyond what an operator sets: tests
// shorten timers and windows, the simulator sizes the store's flushes for
// load runs. It is not part of Options, which cmd/dolbomd fills from flags:
// no flag or variable reaches these, and a production gateway is built by
// New, without them.
type Tuning struct {
	// Dispatch adjusts dispatch's settings (tests shorten its timers).
	Dispatch func(*dispatch.Config)
	// Health and Engine adjust the detectors' settings before they start.
	Health func(*health.Config)
	Engine func(*detectors.EngineConfig)
	// Store adjusts the store's settings (flush sizes for load runs).
	Store func(*store.Config)
	// Clock, when set, is the one time of the whole gateway: the broker's
	// receive stamps, the detectors' deadlines, dispatch's escalation and
	// outbox, the store's stamps and retention (see clock.go). Nil: the
	// wall clock. It is here, not in Options, because no operator sets it:
	// the simulator's soak runs simulated days through a gateway, moving
	// the clock with Gateway.Step.
	Clock func() time.Time
	// OTA adjusts the rollout engine's settings (tests shorten its tick).
	OTA func(*ota.Config)
}

// HTTPLimits bounds the time a request may take on the HTTP server (see
// routes.go for the routes that need more, or less).
type HTTPLimits struct {
	// ReadHeaderTimeout bounds the request line and headers (default 5 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the whole request, body included (default 10 s):
	// the bodies are small JSON and forms, but for the CSV import.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the headers to the end
	// of the response (default 30 s). Reports get longer, the incident
	// streams a deadline per write instead.
	WriteTimeout time.Duration
	// IdleTimeout bounds a kept-alive connection between requests
	// (default 60 s).
	IdleTimeout time.Duration
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	def := defaults.Set[time.Duration]
	def(&l.ReadHeaderTimeout, 5*time.Second)
	def(&l.ReadTimeout, 10*time.Second)
	def(&l.WriteTimeout, 30*time.Second)
	def(&l.IdleTimeout, 60*time.Second)
	return l
}

// Gateway is a wired dolbomd.
type Gateway struct {
	opts     Options
	log      zerolog.Logger
	Registry *prometheus.Registry
	Store    *store.Store
	Broker   *broker.Server
	Health   *health.Monitor
	Engine   *detectors.Engine
	Dispatch *dispatch.Dispatcher
	// OTA runs firmware rollouts (docs/operations.md, "Rollouts").
	OTA *ota.Engine
	// Node is the gateway's membership of its cluster (nil: the single
	// gateway).
	Node *cluster.Node
	// solo is a single gateway's lease on PostgreSQL (the solo guard; nil
	// on the embedded store and in a cluster).
	solo *cluster.Node
	// FakeTwilio is the built-in Twilio stand-in when no account is
	// configured (tests script the people it plays).
	FakeTwilio *fake.Server

	channels *channels
	// workOrders opens maintenance work orders from device faults
	// (dispatch/workorder) and texts the technicians.
	workOrders *workorder.Desk
	web        *web.Console
	fleet      *api.Fleet
	Handler    http.Handler // /healthz, /readyz, /metrics, /api/v1/
	Token      string

	tokenCreated  bool
	adminPassword string // the first console account's password, shown once
	adminCreated  bool
	ready         readiness
	httpListener  net.Listener
	clock         func() time.Time // Tuning.Clock: nil on the wall clock
	retainedAt    time.Time        // Step's last retention pass (simulated)
	maintaining   chan error       // Step's store pass under way, nil when none
	// open is what New opened, released at an error return or when Run
	// returns.
	open cleanups
}

// New opens the store and builds every stage; Run starts them.
func New(ctx context.Context, o Options, log zerolog.Logger) (*Gateway, error) {
	return NewTuned(ctx, o, Tuning{}, log)
}

// NewTuned is New with the stages' settings adjusted (tests, the
// simulator).
func NewTuned(ctx context.Context, o Options, tune Tuning, log zerolog.Logger) (_ *Gateway, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: data dir: %w", err)
	}
	// Before anything is read or written there: the folder and the files
	// kept in it are for the gateway's user alone.
	tightened, err := privateDataDir(o.DataDir)
	if len(tightened) > 0 {
		log.Warn().Strs("paths", tightened).Msg("data folder: tightened permissions (folders 0700, files 0600): the data was readable by other users")
	}
	if err != nil {
		return nil, err
	}
	defaults.Set(&o.ShutdownTimeout, 20*time.Second)
	g := &Gateway{opts: o, log: log, Registry: prometheus.NewRegistry(), clock: tune.Clock}
	// Every error return below releases what was opened before it.
	defer func() {
		if err != nil {
			g.open.unwind()
		}
	}()
	reg := g.Registry
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	key, err := secretKey(o, log)
	if err != nil {
		return nil, err
	}
	budget := newShutdownBudget(o.ShutdownTimeout)
	sc := store.Config{
		DataDir: o.DataDir, DatabaseURL: o.DatabaseURL, SecretKey: key,
		Logger: log, Registerer: reg, RawRetention: o.RawRetention,
		DrainTimeout: budget.store, Cluster: o.Cluster.Enabled,
	}
	if tune.Clock != nil {
		sc.Now = tune.Clock
		// Step seals the due hours as of the simulated clock (clock.go):
		// the loop's wall ticker and its pause between chunks of hubs,
		// which spread a national hour over five wall minutes, would leave
		// the seal hours behind a clock that moves faster than the wall.
		sc.SealInterval, sc.SealPause = -1, time.Nanosecond
	}
	if tune.Store != nil {
		tune.Store(&sc)
	}
	g.Store, err = store.Open(ctx, sc)
	if err != nil {
		return nil, err
	}
	st := g.Store
	g.open.push(st.Close)
	log.Info().Str("backend", st.Backend()).Str("data_dir", o.DataDir).Msg("store open")

	g.Token, g.tokenCreated, err = api.LoadOrCreateAdminToken(o.DataDir, o.AdminToken)
	if err != nil {
		return nil, err
	}

	if o.HTTPAddr != "" {
		g.httpListener, err = net.Listen("tcp", o.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("gateway: http listen: %w", err)
		}
		g.open.push(func() { g.httpListener.Close() })
	}
	publicBase := "http://127.0.0.1"
	if g.httpListener != nil {
		publicBase = "http://" + g.httpListener.Addr().String()
	}
	var slots twilio.VoiceSlots
	if o.Cluster.Enabled {
		slots = clusterVoiceSlots{st.Cluster()}
	}
	g.channels, err = newChannels(o.Channels, publicBase, g.httpListener != nil, slots, log)
	if err != nil {
		return nil, err
	}
	if ln := g.channels.fakeLn; ln != nil {
		g.open.push(func() { ln.Close() })
	}
	g.FakeTwilio = g.channels.fakeTwilio
	g.channels.now = tune.Clock
	g.channels.sensors, g.channels.latest, g.channels.residents = st.Registry(), st.Incidents(), st.Registry()
	g.channels.pins = st.Routes()
	registerNoRoute(reg, g.channels.stuck)
	if err := g.channels.routeWith(st.Routes()); err != nil {
		return nil, err
	}
	residentsBySido, err := settleDistricts(ctx, st, reg, log)
	if err != nil {
		return nil, err
	}
	if err := checkRoutes(ctx, g.channels.routes, residentsBySido, log); err != nil {
		return nil, err
	}
	if err := checkNoDistrict(ctx, g.channels.routes, residentsBySido[""], st.Registry(), o.Channels.AllowNoDistrict, log); err != nil {
		return nil, err
	}
	policies := dispatch.DefaultPolicies()
	if o.DispatchPolicy != "" {
		if policies, err = dispatch.LoadPolicies(o.DispatchPolicy); err != nil {
			return nil, err
		}
	}
	dc := dispatch.Config{Store: st.Incidents(), Directory: st.Registry(), Hubs: hubCommander{g}, Notifiers: g.channels.notifiers(),
		Policies: policies, Logger: log,
		// A row held by a gateway that died is retaken after the lease: it
		// must outlast one send (15 s), and be short enough that a
		// restarted gateway resumes its 119 alerts within a minute.
		Lease: 30 * time.Second}
	if o.Cluster.Enabled {
		// A detection refused because its home moved: the detectors let
		// the home go (the new owner replays it from the journal).
		dc.OnStale = func(hubs []devices.HubID) {
			g.Engine.ReleaseStale(hubs)
			g.Health.ReleaseStale(hubs)
		}
	}
	if tune.Clock != nil {
		dc.Now = tune.Clock
	}
	if tune.Dispatch != nil {
		tune.Dispatch(&dc)
	}
	g.Dispatch, err = dispatch.New(dc)
	if err != nil {
		return nil, err
	}
	if g.workOrders, err = workorder.New(workorder.Config{Store: st.WorkOrders(), Feed: g.Dispatch, Residents: st.Registry(),
		Sender: g.channels.twilio, Now: dc.Now, Logger: log}); err != nil {
		return nil, err
	}
	// One series per outcome of a work order's SMS; failed needs a person
	// to call the technician (the console shows which orders).
	for outcome, count := range map[string]func(workorder.Stats) int64{
		"sent":        func(s workorder.Stats) int64 { return s.Sent },
		"retried":     func(s workorder.Stats) int64 { return s.Retried },
		"parked":      func(s workorder.Stats) int64 { return s.Parked },
		"undelivered": func(s workorder.Stats) int64 { return s.Undelivered },
		"failed":      func(s workorder.Stats) int64 { return s.Failed },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dolbom_workorder_notices_total", ConstLabels: prometheus.Labels{"outcome": outcome},
			Help: "Work orders' SMS to technicians by outcome: sent (accepted by Twilio), retried (not accepted, tried again after a backoff), " +
				"parked (no technician covers the region), undelivered (reported so by Twilio, texted again), failed (given up: call the technician).",
		}, func() float64 { return float64(count(g.workOrders.Stats())) }))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dolbom_workorder_feed_resubscribed_total",
		Help: "Times the work-order desk's incident feed ended under it (dropped as a slow reader). Should stay 0.",
	}, func() float64 { return float64(g.workOrders.Stats().Resubscribed) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dolbom_dispatch_panics_total",
		Help: "Panics recovered in dispatch (an incident change refused, a notification recorded failed). Must stay 0.",
	}, func() float64 { return float64(g.Dispatch.Panics()) }))
	// 119's answers carry a credential of their own: never the admin token,
	// which also unlocks residents' records and door codes.
	answerToken, err := cap.LoadOrCreateAnswerToken(o.DataDir, o.Channels.CAPAnswerToken)
	if err != nil {
		return nil, err
	}
	g.channels.wire(g.Dispatch, g.workOrders, answerToken, log)

	detections := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dolbom_detections_total",
		Help: "Detections handed on by the detectors, by class, cause and state.",
	}, []string{"class", "cause", "state"})
	reg.MustRegister(detections)
	poisoned := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dolbom_poison_total",
		Help: "Inputs whose handling panicked in a detector shard (recovered, kept, the hub disconnected), by stage. Must stay 0.",
	}, []string{"stage"})
	reg.MustRegister(poisoned)
	// A shard that could not handle an input: kept for an engineer, and the
	// hub disconnected (off the shard's goroutine, which must not block).
	onPoison := func(p devices.Poison) {
		poisoned.WithLabelValues(p.Stage).Inc()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := st.Journal().KeepPoison(ctx, p); err != nil {
				log.Error().Err(err).Str("hub_id", string(p.Hub)).Msg("poison input not kept")
			}
			if p.Hub != "" && g.Broker != nil {
				g.Broker.Disconnect(p.Hub)
			}
		}()
	}
	sink := &detectionSink{dispatch: g.Dispatch, counts: detections, onDetection: o.OnDetection,
		log: log.With().Str("component", "detections").Logger()}
	hc := health.Config{
		Sink: sink, Fleet: st.Registry(), Store: st.State(), Journal: st.Journal(), OnPoison: onPoison, Logger: log, Registerer: reg, HeartbeatTimeout: o.HeartbeatTimeout,
		ShutdownTimeout: budget.detectors,
		// Last-seen times alone are saved every 10 minutes, not every
		// minute: at national scale every hub is "seen" every minute, and
		// a restart re-arms deadlines with a grace anyway.
		SeenSaveInterval: 10 * time.Minute,
	}
	hc.Cluster = o.Cluster.Enabled // homes come and go with ownership
	hc.Clock = tune.Clock
	if tune.Health != nil {
		tune.Health(&hc)
	}
	g.Health, err = health.New(hc)
	if err != nil {
		return nil, err
	}
	ec := detectors.EngineConfig{
		Sink: sink, Fleet: st.Registry(), Store: st.State(), Journal: st.Journal(), OnPoison: onPoison, Logger: log,
		NewFallTracker:  detectors.WearableFallTrackers(nil),
		ShutdownTimeout: budget.detectors,
		// Homes whose only change is their activity clock are saved every
		// 5 minutes: at most 5 minutes of activity is forgotten by a crash,
		// against welfare limits of hours; episodes are saved within
		// seconds as before.
		SeenInterval: 5 * time.Minute,
	}
	ec.Cluster = o.Cluster.Enabled
	ec.Clock = tune.Clock
	if tune.Engine != nil {
		tune.Engine(&ec)
	}
	g.Engine, err = detectors.NewEngine(ec)
	if err != nil {
		return nil, err
	}

	bc := o.Broker
	bc.TCPAddr, bc.TLSAddr, bc.CertFile, bc.KeyFile, bc.WSAddr = o.MQTTAddr, o.TLSAddr, o.CertFile, o.KeyFile, o.WSAddr
	if bc.TCPAddr == "" {
		bc.TCPAddr = broker.ListenerOff // "" means no plain MQTT (TLS only), never the default port
	}
	bc.ShutdownTimeout = budget.broker
	bc.Now = tune.Clock
	if bc.Node == "" {
		// The broker's default, made here: a single gateway's lease on
		// PostgreSQL carries the same name as its held hubs.
		bc.Node, _ = os.Hostname()
	}
	sink.node = bc.Node
	switch {
	case o.Cluster.Enabled:
		if g.Node, err = g.joinCluster(ctx, key); err != nil {
			return nil, err
		}
		bc.Owners = g.Node
	case o.DatabaseURL != "":
		if g.solo, err = g.joinSolo(ctx, bc.Node); err != nil {
			return nil, err
		}
		// A New that fails later gives the lease up at once, rather than
		// keep a restart with another name waiting for it to expire.
		g.open.push(func() { g.leave(g.solo, budget.leave) })
	}
	// The rule engine first: an SOS reaches it without waiting for the
	// health monitor's queue (which, while its saved state loads, may be
	// full of parked inputs).
	if g.OTA, err = g.newOTA(tune); err != nil {
		return nil, err
	}
	g.Broker, err = broker.New(bc, st.Journal(), broker.Fanout{g.Engine, g.Health, g.OTA}, brokerDirectory{st.Registry(), st.State()}, log, reg)
	if err != nil {
		return nil, err
	}
	g.open.push(g.Broker.Close)
	if o.Listener != nil {
		if err := g.Broker.AddListener(o.Listener); err != nil {
			o.Listener.Close() // the broker closes it only once added
			return nil, err
		}
	}

	health := g.healthReader()
	// The store's sub-stores serve the console's ports, in the console's records.
	// The secret key also signs the console's login forms (it derives its
	// own key from it), so that gateways sharing a database accept each
	// other's forms.
	desk := web.DeskIncidents{Desk: g.Dispatch}
	accounts, casework := st.Accounts(), st.Casework()
	// One fleet view for the admin API (national) and the console (within
	// an admin's regions): one counter of bad filters.
	g.fleet = api.NewFleet(st.State(), nil, reg)
	g.web, err = web.New(web.Config{SecureCookies: o.SecureCookies, TrustedProxies: o.TrustedProxies, SigningKey: key, Registerer: reg, Logger: log},
		web.Deps{Accounts: accounts, Audit: accounts, Residents: st.Registry(), Visits: casework, Caseload: casework, Wellbeing: casework, Health: health,
			Incidents: desk, History: casework, OpenIncident: desk, Desk: g.Dispatch, Evidence: st.Journal(), Reports: casework,
			Registry: g.registry(), // the admin pages edit the registry as the admin API does
			Hubs:     g.hubControl(),
			// Scoping by region and the "119 경로 없음" banner.
			NoRoutes: g.channels.stuck, IncidentRegions: st.Routes(), WorkOrders: st.WorkOrders(),
			Routes: routeAdmin{Router: g.channels.routes, Routes: st.Routes(), residents: st.Registry()},
			Fleet:  g.fleet,
			// 펌웨어 배포: read from the store, halted and rolled back
			// through the engine.
			Rollouts: st.Rollouts(), RolloutControl: g.OTA})
	if err != nil {
		return nil, err
	}
	g.Handler = g.routes(g.web)
	g.adminPassword, g.adminCreated, err = console.BootstrapAdmin(ctx, accounts, o.DataDir)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// HTTPAddr is the address the HTTP server listens on ("" without one).
func (g *Gateway) HTTPAddr() string {
	if g.httpListener == nil {
		return ""
	}
	return g.httpListener.Addr().String()
}

// refreshHub tells the health monitor about a registry change of one hub
// (created, disabled, sensors added), so supervision follows the registry.
func (g *Gateway) refreshHub(ctx context.Context, id devices.HubID) {
	if g.Node != nil {
		// In a cluster only the gateway that owns the home watches it: a
		// refresh here would start supervising a hub that is online on
		// another gateway (and raise it offline).
		if _, owned := g.Health.Health(id); !owned {
			g.Dispatch.InvalidateResidents(id)
			return
		}
	}
	hub, err := g.Store.Registry().GetHub(ctx, id)
	if err != nil {
		return
	}
	sensors, err := g.Store.Registry().ListSensors(ctx, id)
	if err != nil {
		return
	}
	g.Health.Refresh(hub, sensors)
	g.Engine.Refresh(id, sensors)
	g.Dispatch.InvalidateResidents(id)
}

// Ready reports nil once every stage is up and the store answers.
func (g *Gateway) Ready(ctx context.Context) error {
	return g.ready.err(ctx)
}

// Run runs every stage until ctx ends, then stops them in the order data
// flows: intake first (HTTP, then the broker stops taking messages), then
// the detectors, the store last, so that everything accepted is written
// before Run returns. The hubs are disconnected only after the detectors'
// final saves (seconds at national scale), so that no hub starts backing
// off while they run.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.open.unwind()
	log := g.log
	stages := newStages(log)
	budget := newShutdownBudget(g.opts.ShutdownTimeout)
	stages.start(stageStore, g.Store.Run)
	stages.start(stageHealth, g.Health.Run)
	stages.start(stageEngine, g.Engine.Run)
	stages.start(stageDispatch, g.Dispatch.Run)
	stages.start(stageChannels, g.channels.run)
	stages.start(stageEvidence, func(ctx context.Context) error { return g.Dispatch.KeepEvidence(ctx, g.Store.Incidents()) })
	stages.start(stageWorkOrders, g.workOrders.Run)
	// Hubs' messages wait until the detectors have applied what the journal
	// holds beyond their saved state, so that each home sees its events in
	// order and nothing acknowledged before a crash is skipped.
	ready := []<-chan struct{}{g.Engine.Replayed(), g.Health.Replayed()}
	switch {
	case g.Node != nil:
		// A claim needs the member: hubs are served once the node joined.
		stages.start(stageCluster, g.keepLease(g.Node, budget.leave))
		ready = append(ready, g.Node.Joined())
		// At a stop, right after intake: the hubs go to the other gateways
		// at once (see stopOrder).
		stages.start(stageRelease, g.releaseHubs(budget.release))
	case g.solo != nil:
		stages.start(stageCluster, g.keepLease(g.solo, budget.leave))
	}
	stages.start(stageBroker, func(ctx context.Context) error {
		for _, replayed := range ready {
			select {
			case <-replayed:
			case <-ctx.Done():
				return nil
			}
		}
		return g.Broker.Run(ctx)
	})
	stages.start(stageWeb, g.web.Run)
	stages.start(stageOTA, g.OTA.Run)
	// The first step of a shutdown: hubs stay connected, nothing more is
	// taken from them, and the broker's disconnect pass waits until the
	// detectors have saved (see broker.Server.StopIntake).
	stages.start(stageIntake, func(ctx context.Context) error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), budget.intake)
		defer cancel()
		return g.Broker.StopIntake(sctx)
	})
	if g.httpListener != nil {
		l := g.opts.HTTP.withDefaults()
		srv := &http.Server{Handler: g.Handler, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
			WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout}
		stages.start(stageHTTP, func(ctx context.Context) error {
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), budget.http)
				defer cancel()
				srv.Shutdown(sctx)
			}()
			if err := srv.Serve(g.httpListener); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.ready.set(func(ctx context.Context) error {
		if !g.Broker.Ready() {
			return errors.New("broker not listening")
		}
		if g.Node != nil {
			if ok, why := g.Node.Ready(); !ok {
				return errors.New(why)
			}
		}
		// Hubs are served while the detectors load their saved state
		// (events at once, the rest parked), but inactivity clocks and
		// learned baselines are not watched until it is loaded.
		if err := loading(g.Engine.Loaded(), g.Health.Loaded()); err != nil {
			return err
		}
		// The store's reason, as specific as it knows it (unreachable,
		// or which write path fails and why); never waits long.
		return g.Store.Ping(ctx)
	})
	log.Info().Str("mqtt", g.opts.MQTTAddr).Str("http", g.HTTPAddr()).Msg("dolbomd ready")
	if g.tokenCreated {
		log.Warn().Str("token_file", api.AdminTokenFile(g.opts.DataDir)).Msg("generated an admin token at first start")
	}
	if g.adminCreated {
		log.Warn().Str("account", "admin").Str("password_file", console.BootstrapPasswordFile(g.opts.DataDir)).
			Msg("created the first console account; sign in at /login and change its password")
	}
	if g.opts.Demo {
		if err := demo(ctx, g.opts, g.HTTPAddr(), g.Token, g.channels.fakeURL(), g.Store, g.refreshHub, log); err != nil {
			log.Warn().Err(err).Msg("demo home not provisioned")
		}
	}
	go reportStats(ctx, log, g.Broker, g.Health)

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down: stopping intake")
	case err := <-stages.failed:
		log.Error().Err(err).Msg("a stage failed: shutting down")
	}
	return stages.stop(g.opts.ShutdownTimeout, stopOrder)
}

// detectionSink hands every detection to dispatch, where it becomes (or
// updates) an incident, and logs and counts it on the way.
type detectionSink struct {
	dispatch    *dispatch.Dispatcher
	counts      *prometheus.CounterVec
	log         zerolog.Logger
	onDetection func(detectors.Detection)
	node        string // the broker's node name, for Detection.Timing
}

func (s *detectionSink) Detect(d detectors.Detection) {
	if d.Timing != nil {
		// The rules' copy is this detection's own: stamped here, where
		// the detectors hand it on, with the node that served it.
		d.Timing.Detected, d.Timing.Node = time.Now(), s.node
	}
	s.dispatch.Detect(d)
	s.counts.WithLabelValues(string(d.Class), string(d.Cause), string(d.State)).Inc()
	s.log.Info().Str("hub_id", string(d.Hub)).Str("sensor_id", string(d.Sensor)).
		Str("class", string(d.Class)).Str("cause", string(d.Cause)).Int("priority", int(d.Priority)).
		Str("state", string(d.State)).Str("fingerprint", d.Fingerprint).Msg(d.Explanation.En)
	if s.onDetection != nil {
		s.onDetection(d)
	}
}

// Flush makes the detectors' saves wait for dispatch's commits
// (detectors.SinkFlusher).
func (s *detectionSink) Flush(ctx context.Context) error { return s.dispatch.Flush(ctx) }

// loading reports which detector runtime is still loading its saved state.
func loading(engine, health <-chan struct{}) error {
	for _, c := range []struct {
		loaded <-chan struct{}
		what   string
	}{{engine, "engine"}, {health, "device health"}} {
		select {
		case <-c.loaded:
		default:
			return fmt.Errorf("detectors loading saved state: %s", c.what)
		}
	}
	return nil
}

// readiness answers /readyz: 200 once every stage is up and the store
// answers and can write, 503 with the reason otherwise.
type readiness struct {
	mu    sync.Mutex
	check func(context.Context) error
}

func (r *readiness) set(check func(context.Context) error) {
	r.mu.Lock()
	r.check = check
	r.mu.Unlock()
}

func (r *readiness) err(ctx context.Context) error {
	r.mu.Lock()
	check := r.check
	r.mu.Unlock()
	if check == nil {
		return errors.New("starting")
	}
	return check(ctx)
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if err := r.err(req.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// reportStats logs a one-line summary every minute: rates belong in
// /metrics, but an operator tailing the log should see the gateway work.
func reportStats(ctx context.Context, log zerolog.Logger, brk *broker.Server, health *health.Monitor) {
	every.Tick(ctx, time.Minute, func() {
		log.Info().Int("hubs_connected", brk.Connected()).Interface("device_health", health.Stats()).Msg("stats")
	})
}

// secretKey returns the key that seals secrets at rest: the configured one,
// or one kept in the data folder. Gateways sharing a PostgreSQL database
// must be given the same key, or they cannot read each other's residents.
func secretKey(o Options, log zerolog.Logger) ([]byte, error) {
	if o.SecretKey != "" {
		key, err := hex.DecodeString(o.SecretKey)
		if err != nil || len(key) != 32 {
			return nil, errors.New("gateway: the secret key must be 64 hexadecimal digits (32 bytes)")
		}
		return key, nil
	}
	if o.DatabaseURL != "" {
		log.Warn().Msg("no DOLBOM_SECRET_KEY: using a key file in the data folder; every gateway on this database needs the same key")
	}
	return store.LoadOrCreateKey(o.DataDir)
}

// closeOnError releases what New opened, for a gateway that will not run
// (tests that only build one).
func (g *Gateway) closeOnError() { g.open.unwind() }

// hubCommander lets dispatch ask a resident "are you all right?" through
// the hub, via the broker built after dispatch.
type hubCommander struct{ g *Gateway }

func (h hubCommander) SendCommand(ctx context.Context, hub devices.HubID, c devices.Command) error {
	return h.g.Broker.SendCommand(ctx, hub, c)
}
