// Command dolbomd is the Dolbom gateway: the embedded MQTT broker that hubs
// connect to, the durable store, the detectors and the HTTP API, in one
// process. The wiring lives in cmd/internal/gateway; this file turns flags
// and the environment into its options and runs it until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/cmd/internal/svclog"

	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/cmd/internal/memlimit"
)

func main() {
	memlimit.KeepStacks() // first: it may start the process again
	memlimit.StartPacer()
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout))
}

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
	if limit := memlimit.Set(opts.DatabaseURL == ""); limit < 1<<62 {
		log.Info().Int64("memory_limit_bytes", limit).Msg("soft memory limit (GOMEMLIMIT overrides)")
	}
	gopts := opts.gateway()
	maxHubs, how, err := memlimit.ResolveMaxHubs(opts.MaxHubs, opts.DatabaseURL == "")
	if err != nil { // validated by parseOptions
		fmt.Fprintln(os.Stderr, "dolbomd: --max-hubs", err)
		return 2
	}
	gopts.Broker.MaxHubs = maxHubs
	log.Info().Int("max_hubs", maxHubs).Str("how", how).Msg("hub capacity (--max-hubs, DOLBOM_MAX_HUBS; 0: no cap)")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g, err := gateway.New(ctx, gopts, log)
	if err != nil {
		log.Error().Err(err).Msg("dolbomd could not start")
		return 1
	}
	if err := g.Run(ctx); err != nil {
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
		l = zerolog.New(svclog.Console(stdout))
	} else {
		l = zerolog.New(stdout)
	}
	return svclog.With(l.Level(level).With().Timestamp().Logger(), "dolbomd")
}
