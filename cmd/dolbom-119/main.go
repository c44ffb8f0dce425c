// Command dolbom-119 is a mock 119 centre for demos and tests: it receives
// the gateway's CAP messages over HTTP and HTTPS, checks them against the
// schema (or, without the schema or xmllint, their structure, and says so
// at start), keeps each identifier once and answers through the gateway's
// answer endpoint. See docs/cap.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/cmd/internal/svclog"

	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
)

func main() { os.Exit(run(os.Args[1:], os.Getenv)) }

type options struct {
	listen, tlsListen, certOut string
	xsd                        string
	autoAccept                 time.Duration
	autoDispatch               bool
	answerURL, answerToken     string
	answerHMAC, capToken       string
	downFor                    time.Duration
	logLevel                   string
}

func parse(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("dolbom-119", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", envOr(getenv, "DOLBOM_119_LISTEN", "127.0.0.1:8119"), "HTTP address (empty: none)")
	fs.StringVar(&o.tlsListen, "tls-listen", getenv("DOLBOM_119_TLS_LISTEN"), "HTTPS address with a generated self-signed certificate (empty: none)")
	fs.StringVar(&o.certOut, "cert-out", "", "write the self-signed certificate (PEM) here for the gateway to trust")
	fs.StringVar(&o.xsd, "xsd", envOr(getenv, "DOLBOM_CAP_XSD", "../shared/spec/CAP-v1.2.xsd"), "CAP schema to validate against (needs xmllint); without it every message is checked for CAP's required elements and values only, as the log says at start")
	fs.DurationVar(&o.autoAccept, "auto-accept", 500*time.Millisecond, "answer accepted this long after an alert (0: manual only)")
	fs.BoolVar(&o.autoDispatch, "auto-dispatch", true, "answer dispatched after the acceptance")
	fs.StringVar(&o.answerURL, "answer-url", getenv("DOLBOM_119_ANSWER_URL"), "the gateway's answer endpoint (empty: never answer)")
	fs.StringVar(&o.answerToken, "answer-token", getenv("DOLBOM_119_ANSWER_TOKEN"), "bearer token for the answer endpoint")
	fs.StringVar(&o.answerHMAC, "answer-hmac-key", getenv("DOLBOM_119_ANSWER_HMAC_KEY"), "HMAC key for signing answers")
	fs.StringVar(&o.capToken, "cap-token", getenv("DOLBOM_CAP_TOKEN"), "bearer token required on CAP POSTs (empty: none)")
	fs.DurationVar(&o.downFor, "down-for", 0, "simulate an outage (503) for this long after start")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.listen == "" && o.tlsListen == "" {
		return o, errors.New("need --listen or --tls-listen")
	}
	return o, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func run(args []string, getenv func(string) string) int {
	o, err := parse(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dolbom-119:", err)
		return 2
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	level, err := zerolog.ParseLevel(o.logLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	log := svclog.With(zerolog.New(svclog.Console(os.Stdout)).Level(level).With().Timestamp().Logger(), "dolbom-119")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, o, log); err != nil {
		log.Error().Err(err).Msg("dolbom-119 stopped with an error")
		return 1
	}
	return 0
}

// schemaCheck decides how CAP messages will be checked and says so: with
// the official schema when both it and xmllint are here, otherwise with
// cap.CheckStructure (required elements and values), loudly, so that
// nobody believes "validated against the schema" when it was not.
func schemaCheck(xsd string, lookPath func(string) (string, error), log zerolog.Logger) string {
	if xsd == "" {
		log.Warn().Msg("CAP 스키마 지정 안 됨: 구조만 검사 / CAP schema not given: checking structure only")
		return ""
	}
	if _, err := os.Stat(xsd); err != nil {
		log.Warn().Str("xsd", xsd).Msg("CAP 스키마 없음: 구조만 검사 (필수 요소와 값) / CAP schema not found: checking structure only (required elements and values)")
		return ""
	}
	if _, err := lookPath("xmllint"); err != nil {
		log.Warn().Str("xsd", xsd).Msg("xmllint 없음: 구조만 검사 / xmllint not found (apt install libxml2-utils): checking structure only")
		return ""
	}
	log.Info().Str("xsd", xsd).Msg("CAP 스키마로 검증 / validating CAP against the schema")
	return xsd
}

func serve(ctx context.Context, o options, log zerolog.Logger) error {
	o.xsd = schemaCheck(o.xsd, exec.LookPath, log)
	rcv := receiver.New(receiver.Options{
		XSDPath: o.xsd, AutoAccept: o.autoAccept, AutoDispatch: o.autoDispatch,
		AnswerURL:   o.answerURL,
		AnswerAuth:  cap.AnswerAuth{BearerToken: o.answerToken, HMACKey: []byte(o.answerHMAC)},
		BearerToken: o.capToken, DownFor: o.downFor, Logger: log,
	})
	handler := rcv.Handler()
	errc := make(chan error, 3)
	var servers []*http.Server
	start := func(addr string, tlsConf *tls.Config) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("dolbom-119: listen %s: %w", addr, err)
		}
		srv := &http.Server{Handler: handler, TLSConfig: tlsConf, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, srv)
		scheme := "http"
		if tlsConf != nil {
			scheme = "https"
			ln = tls.NewListener(ln, tlsConf)
		}
		log.Info().Str("url", scheme+"://"+ln.Addr().String()+"/cap").Msg("모의 119 대기 중 / mock 119 listening")
		go func() { errc <- srv.Serve(ln) }()
		return nil
	}
	if o.listen != "" {
		if err := start(o.listen, nil); err != nil {
			return err
		}
	}
	if o.tlsListen != "" {
		host, _, _ := net.SplitHostPort(o.tlsListen)
		hosts := []string{"localhost", "127.0.0.1"}
		if host != "" && !strings.Contains(strings.Join(hosts, " "), host) {
			hosts = append(hosts, host)
		}
		cert, certPEM, err := receiver.SelfSigned(hosts)
		if err != nil {
			return err
		}
		if o.certOut != "" {
			if err := os.WriteFile(o.certOut, certPEM, 0o644); err != nil {
				return fmt.Errorf("dolbom-119: write certificate: %w", err)
			}
		}
		if err := start(o.tlsListen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	go func() { errc <- rcv.Run(ctx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
	s := rcv.Stats()
	log.Info().Int("received", s.Received).Int("duplicates", s.Duplicates).Msg("모의 119 종료 / mock 119 stopped")
	return runErr
}
