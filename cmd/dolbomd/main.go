// Command dolbomd is the Dolbom gateway: the embedded MQTT broker that hubs
// connect to, the durable store, the detectors and the HTTP API, in one
// process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

func main() { os.Exit(run(os.Args[1:], os.Getenv, os.Stdout)) }

func run(args []string, getenv func(string) string, stdout *os.File) int {
	opts, err := parseOptions(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dolbomd:", err)
		return 2
	}
	log := newLogger(opts, stdout)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, opts, log); err != nil {
		log.Error().Err(err).Msg("dolbomd stopped with an error")
		return 1
	}
	log.Info().Msg("dolbomd stopped")
	return 0
}

func newLogger(o Options, stdout *os.File) zerolog.Logger {
	level, err := zerolog.ParseLevel(o.LogLevel)
	if err != nil || level == zerolog.NoLevel {
		level = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	var l zerolog.Logger
	if o.LogFormat == "console" || (o.LogFormat == "auto" && isTerminal(stdout)) {
		l = zerolog.New(zerolog.ConsoleWriter{Out: stdout, TimeFormat: "15:04:05.000"})
	} else {
		l = zerolog.New(stdout)
	}
	return l.Level(level).With().Timestamp().Logger()
}

// serve wires the stages and runs them until ctx ends, then shuts them down
// in the order data flows: first intake (HTTP, broker), then the detectors,
// then the store, which writes what it accepted before it returns.
func serve(ctx context.Context, o Options, log zerolog.Logger) error {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	key, err := store.LoadOrCreateKey(o.DataDir)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Config{
		DataDir: o.DataDir, DatabaseURL: o.DatabaseURL, SecretKey: key,
		Logger: log, Registerer: reg,
		RawRetention: o.RawRetention,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	log.Info().Str("backend", st.Backend()).Str("data_dir", o.DataDir).Msg("store open")

	token, created, err := console.LoadOrCreateAdminToken(o.DataDir, o.AdminToken)
	if err != nil {
		return err
	}

	healthEvents := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dolbom_device_health_detections_total",
		Help: "Device-health detections handed on, by cause and state.",
	}, []string{"cause", "state"})
	reg.MustRegister(healthEvents)
	healthLog := log.With().Str("component", "device_health").Logger()
	health, err := detectors.NewHealthMonitor(detectors.HealthConfig{
		// Dispatch (incidents, escalation to technicians) will take these;
		// until it does they are logged and counted, never sent to 119.
		Sink: detectors.SinkFunc(func(d detectors.Detection) {
			healthEvents.WithLabelValues(string(d.Cause), string(d.State)).Inc()
			healthLog.Info().Str("hub_id", string(d.Hub)).Str("sensor_id", string(d.Sensor)).
				Str("cause", string(d.Cause)).Str("state", string(d.State)).
				Str("fingerprint", d.Fingerprint).Msg(d.Explanation.En)
		}),
		Fleet:            fleet{st},
		Store:            st,
		Logger:           log,
		Registerer:       reg,
		HeartbeatTimeout: o.HeartbeatTimeout,
	})
	if err != nil {
		return err
	}

	brk, err := broker.New(broker.Config{
		TCPAddr: o.MQTTAddr, TLSAddr: o.TLSAddr, CertFile: o.CertFile, KeyFile: o.KeyFile, WSAddr: o.WSAddr,
	}, st, health, st, log, reg)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	var ready readiness
	mux.Handle("GET /readyz", &ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	api := console.NewAdminAPI(console.AdminConfig{Token: token, Events: eventLog{st}}, registry{st}, healthReader{health, st}, brk,
		log)
	mux.Handle("/api/v1/", api)
	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	httpServer := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	// Each stage runs in its own context so that shutdown can stop them one
	// after the other, downstream last.
	stages := newStages(log)
	stages.start("store", st.Run)
	stages.start("device_health", health.Run)
	stages.start("broker", brk.Run)
	stages.start("http", func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			httpServer.Shutdown(sctx)
		}()
		if err := httpServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	ready.set(func() error {
		switch {
		case !brk.Ready():
			return errors.New("broker not listening")
		case st.Ping(context.Background()) != nil:
			return errors.New("store unreachable")
		}
		return nil
	})

	log.Info().Str("mqtt", o.MQTTAddr).Str("http", ln.Addr().String()).Msg("dolbomd ready")
	if created {
		log.Warn().Str("token_file", console.AdminTokenFile(o.DataDir)).Msg("generated an admin token at first start")
	}
	if o.Demo {
		if err := demo(ctx, o, ln.Addr().String(), token, st, log); err != nil {
			log.Warn().Err(err).Msg("demo home not provisioned")
		}
	}
	go reportStats(ctx, log, brk, health)

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down: stopping intake")
	case err := <-stages.failed:
		log.Error().Err(err).Msg("a stage failed: shutting down")
	}
	return stages.stop(o.ShutdownTimeout, "http", "broker", "device_health", "store")
}

// readiness answers /readyz: 200 once every stage is up and the store
// answers, 503 with the reason otherwise.
type readiness struct {
	mu    sync.Mutex
	check func() error
}

func (r *readiness) set(check func() error) { r.mu.Lock(); r.check = check; r.mu.Unlock() }

func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	check := r.check
	r.mu.Unlock()
	if check == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	if err := check(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// reportStats logs a one-line summary every minute: rates belong in
// /metrics, but an operator tailing the log should see the gateway work.
func reportStats(ctx context.Context, log zerolog.Logger, brk *broker.Server, health *detectors.HealthMonitor) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s := health.Stats()
			log.Info().Int("hubs_connected", brk.Connected()).Interface("device_health", s).Msg("stats")
		}
	}
}

var _ = devices.Version
