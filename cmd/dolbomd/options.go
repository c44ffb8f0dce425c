package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/cmd/internal/memlimit"
	"github.com/dolbom/dolbom/console/web"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/twilio"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
)

// Options is everything dolbomd can be told, from flags or DOLBOM_*
// environment variables (a flag wins over the environment).
type Options struct {
	DataDir     string
	DatabaseURL string
	MQTTAddr    string
	TLSAddr     string
	CertFile    string
	KeyFile     string
	WSAddr      string
	WSOrigins   string // comma-separated browser origins allowed on WSAddr
	HTTPAddr    string
	AdminToken  string
	SecretKey   string
	// FirmwareURL and FirmwareKey configure rollouts (gateway.FirmwareOptions).
	FirmwareURL string
	FirmwareKey string
	LogLevel    string
	LogFormat   string // json, console, or auto (console on a terminal)

	HeartbeatTimeout time.Duration
	RawRetention     time.Duration
	ShutdownTimeout  time.Duration

	// Demo provisions a demo home on an empty registry and prints how to
	// connect to it, so `make run` shows the gateway working.
	Demo bool
	// SecureCookies marks console cookies Secure (pages served over TLS).
	SecureCookies bool
	// MQTTProxyFrom is --mqtt-proxy-from as given: the balancers that
	// send the PROXY protocol to the MQTT listeners (broker.Config.ProxyFrom).
	MQTTProxyFrom string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For the
	// console believes.
	TrustedProxies []netip.Prefix

	// Per-hub rate limits (0: the broker's defaults).
	ReadingsRate  float64
	ReadingsBurst int
	EventsRate    float64
	EventsBurst   int
	// MaxHubs is --max-hubs as given: a number, "unlimited", or "auto" (the
	// default: derived from memory when the gateway starts, see run).
	MaxHubs string
	// MemoryHighWater is the memory guard's share of the soft memory
	// limit (broker.Config.MemoryHighWater); 0 turns the guard off.
	MemoryHighWater float64
	// BusyWait is the load guard (broker.Config.BusyWait); 0 turns it off.
	BusyWait time.Duration
	// ConnectYieldAt is broker.Config.ConnectYieldAt; 0 turns it off.
	ConnectYieldAt time.Duration
	// Node names this gateway's row of held hubs (broker.Config.Node),
	// and in a cluster the node (gateway.ClusterOptions).
	Node string
	// Cluster makes this gateway one node of a cluster (--cluster), with
	// its lease's timing.
	Cluster                               bool
	ClusterRenew, ClusterTTL, ClusterScan time.Duration

	CAPURLs         string // comma-separated
	AllowNoDistrict bool
	CAPSender       string
	CAPAnswerToken  string
	Contact         string
	CAPAddressee    string
	PublicURL       string
	DispatchPolicy  string
	Twilio          struct{ AccountSID, AuthToken, From, APIURL string }
	// TwilioMode is "" or "real" (the account in TWILIO_*), or "fake": the
	// built-in fake Twilio, which reaches nobody. --demo without an account
	// means fake.
	TwilioMode string
}

// fakeTwilio reports whether the built-in fake Twilio stands in.
func (o Options) fakeTwilio() bool {
	return o.TwilioMode == "fake" || (o.TwilioMode == "" && o.Demo && o.Twilio.AccountSID == "")
}

func parseOptions(args []string, getenv func(string) string) (Options, error) {
	o := Options{}
	fs := flag.NewFlagSet("dolbomd", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var envErrs []error
	envDur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s=%q: want a duration such as 20s or 10m", name, v))
			return def
		}
		return d
	}
	envBool := func(name string) bool { b, _ := strconv.ParseBool(getenv(name)); return b }

	fs.StringVar(&o.DataDir, "data-dir", env("DOLBOM_DATA_DIR", "./var"), "folder for the embedded store, the admin token and the secret key (DOLBOM_DATA_DIR)")
	fs.StringVar(&o.DatabaseURL, "database-url", env("DOLBOM_DATABASE_URL", ""), "PostgreSQL URL; empty uses the embedded store; its password may come from the file DOLBOM_DATABASE_PASSWORD_FILE names (DOLBOM_DATABASE_URL)")
	fs.StringVar(&o.MQTTAddr, "mqtt-addr", env("DOLBOM_MQTT_ADDR", ":1883"), "MQTT TCP listen address; \"off\" for none, e.g. TLS only (DOLBOM_MQTT_ADDR)")
	fs.StringVar(&o.TLSAddr, "mqtt-tls-addr", env("DOLBOM_MQTT_TLS_ADDR", ":8883"), "MQTT over TLS listen address, used when a certificate is given (DOLBOM_MQTT_TLS_ADDR)")
	fs.StringVar(&o.CertFile, "tls-cert", env("DOLBOM_TLS_CERT", ""), "PEM certificate for MQTT over TLS (DOLBOM_TLS_CERT)")
	fs.StringVar(&o.KeyFile, "tls-key", env("DOLBOM_TLS_KEY", ""), "PEM private key for MQTT over TLS (DOLBOM_TLS_KEY)")
	fs.StringVar(&o.WSAddr, "mqtt-ws-addr", env("DOLBOM_MQTT_WS_ADDR", ""), "MQTT over WebSocket listen address; empty disables it (DOLBOM_MQTT_WS_ADDR)")
	fs.StringVar(&o.WSOrigins, "mqtt-ws-origins", env("DOLBOM_MQTT_WS_ORIGINS", ""), "browser origins (comma-separated, e.g. https://console.example) allowed to open MQTT over WebSocket; upgrades without an Origin header (hubs) are always allowed (DOLBOM_MQTT_WS_ORIGINS)")
	fs.StringVar(&o.HTTPAddr, "http-addr", env("DOLBOM_HTTP_ADDR", ":8080"), "HTTP listen address for the API, consoles and metrics (DOLBOM_HTTP_ADDR)")
	fs.StringVar(&o.FirmwareURL, "firmware-url", env("DOLBOM_FIRMWARE_URL", ""), "base URL hubs download firmware images from, this gateway's HTTP server as hubs reach it (https://gw.example.kr); empty: rollouts cannot start (DOLBOM_FIRMWARE_URL)")
	fs.StringVar(&o.FirmwareKey, "firmware-vendor-key", env("DOLBOM_FIRMWARE_VENDOR_KEY", ""), "standard base64 of the vendor's ed25519 public key: published images must verify with it (DOLBOM_FIRMWARE_VENDOR_KEY)")
	fs.StringVar(&o.LogLevel, "log-level", env("DOLBOM_LOG_LEVEL", "info"), "debug, info, warn or error (DOLBOM_LOG_LEVEL)")
	fs.StringVar(&o.LogFormat, "log-format", env("DOLBOM_LOG_FORMAT", "auto"), "json, console, or auto: console on a terminal (DOLBOM_LOG_FORMAT)")
	fs.DurationVar(&o.HeartbeatTimeout, "heartbeat-timeout", envDur("DOLBOM_HEARTBEAT_TIMEOUT", 10*time.Minute), "a hub silent this long is offline (DOLBOM_HEARTBEAT_TIMEOUT)")
	fs.DurationVar(&o.RawRetention, "raw-retention", envDur("DOLBOM_RAW_RETENTION", 72*time.Hour), "how long raw readings are kept; rollups and incident evidence are kept longer (DOLBOM_RAW_RETENTION)")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", envDur("DOLBOM_SHUTDOWN_TIMEOUT", 20*time.Second), "bound on draining at SIGTERM (DOLBOM_SHUTDOWN_TIMEOUT)")
	fs.BoolVar(&o.SecureCookies, "secure-cookies", envBool("DOLBOM_SECURE_COOKIES"), "mark console cookies Secure: set when the pages are served over HTTPS, directly or behind a proxy (DOLBOM_SECURE_COOKIES)")
	proxies := env("DOLBOM_TRUSTED_PROXIES", "")
	fs.StringVar(&proxies, "trusted-proxies", proxies, "reverse proxies in front of the HTTP listener, addresses or CIDR prefixes separated by commas: only from them is X-Forwarded-For read, for the client address of sign-in limits and the audit log; empty: none (DOLBOM_TRUSTED_PROXIES)")
	fs.BoolVar(&o.Demo, "demo", envBool("DOLBOM_DEMO"), "provision a demo home when the registry is empty and print how to use it (DOLBOM_DEMO)")
	envFloat := func(name string) float64 {
		v := getenv(name)
		if v == "" {
			return 0
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			envErrs = append(envErrs, fmt.Errorf("%s=%q: want a non-negative number", name, v))
		}
		return f
	}
	envInt := func(name string) int {
		v := getenv(name)
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			envErrs = append(envErrs, fmt.Errorf("%s=%q: want a non-negative whole number", name, v))
		}
		return n
	}
	fs.Float64Var(&o.ReadingsRate, "readings-rate", envFloat("DOLBOM_READINGS_RATE"), "per hub: readings, accelerometer and heartbeat messages per second (default 5; DOLBOM_READINGS_RATE)")
	fs.IntVar(&o.ReadingsBurst, "readings-burst", envInt("DOLBOM_READINGS_BURST"), "per hub: burst of those messages, for store and forward after an outage (default 300; DOLBOM_READINGS_BURST)")
	fs.Float64Var(&o.EventsRate, "events-rate", envFloat("DOLBOM_EVENTS_RATE"), "per hub: events per second; emergencies are slowed, never refused (default 10; DOLBOM_EVENTS_RATE)")
	fs.IntVar(&o.EventsBurst, "events-burst", envInt("DOLBOM_EVENTS_BURST"), "per hub: burst of events (default 200; DOLBOM_EVENTS_BURST)")
	fs.StringVar(&o.MaxHubs, "max-hubs", env("DOLBOM_MAX_HUBS", memlimit.MaxHubsAuto), "hubs this gateway carries; past it new hubs are refused at CONNECT as server busy and back off, connected hubs are kept. "+
		"auto: 80% of the soft memory limit / 34 KiB per hub; unlimited: no cap (DOLBOM_MAX_HUBS)")
	highWater := 0.8
	if v := getenv("DOLBOM_MEMORY_HIGH_WATER"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("DOLBOM_MEMORY_HIGH_WATER=%q: want a share of the memory limit such as 0.8, or 0 for no guard", v))
		}
		highWater = f
	}
	fs.Float64Var(&o.MemoryHighWater, "memory-high-water", highWater, "memory guard: new hubs are refused as server busy while the live heap plus goroutine stacks pass this share of the soft memory limit; 0: no guard (DOLBOM_MEMORY_HIGH_WATER)")
	fs.DurationVar(&o.BusyWait, "busy-wait", envDur("DOLBOM_BUSY_WAIT", broker.DefaultBusyWait), "load guard: new hubs are refused as server busy while more than 5% of the hubs' messages wait longer than this to be handled, and for 10 s after (hubs this node served, before its restart too, are let in); 0: no guard (DOLBOM_BUSY_WAIT)")
	fs.DurationVar(&o.ConnectYieldAt, "connect-yield-at", envDur("DOLBOM_CONNECT_YIELD_AT", broker.DefaultConnectYieldAt), "new CONNECTs wait (up to 2 s each) while more than 1% of runnable goroutines waited longer than this for a core, so a connect wave never takes the cores from connected hubs' emergencies; 0: never (DOLBOM_CONNECT_YIELD_AT)")
	fs.BoolVar(&o.Cluster, "cluster", envBool("DOLBOM_CLUSTER"), "run as one gateway of a cluster sharing the PostgreSQL database (docs/cluster.md): needs --database-url, --node and the shared secrets DOLBOM_SECRET_KEY, DOLBOM_ADMIN_TOKEN, DOLBOM_CAP_ANSWER_TOKEN (DOLBOM_CLUSTER)")
	fs.DurationVar(&o.ClusterRenew, "cluster-renew", envDur("DOLBOM_CLUSTER_RENEW", 2*time.Second), "cluster: how often the node renews its lease; also a single gateway's on PostgreSQL, which refuses a second gateway on its database (DOLBOM_CLUSTER_RENEW)")
	fs.DurationVar(&o.ClusterTTL, "cluster-ttl", envDur("DOLBOM_CLUSTER_TTL", 10*time.Second), "cluster: how long a renewal lasts, at least 3 renewals; a node silent this long plus as long again loses its silent homes to the others (a node stopped with SIGTERM gives its lease up at once); also a single gateway's lease on PostgreSQL (DOLBOM_CLUSTER_TTL)")
	fs.DurationVar(&o.ClusterScan, "cluster-scan", envDur("DOLBOM_CLUSTER_SCAN", 5*time.Second), "cluster: how often the node looks for dead nodes' silent homes (DOLBOM_CLUSTER_SCAN)")
	fs.StringVar(&o.MQTTProxyFrom, "mqtt-proxy-from", env("DOLBOM_MQTT_PROXY_FROM", ""), "load balancers in front of the MQTT TCP and TLS listeners that send the PROXY protocol (HAProxy send-proxy-v2), addresses or CIDR prefixes separated by commas: those listeners then take connections only from them and see each hub's own address (per-address CONNECT limit, logs); empty: hubs connect directly (DOLBOM_MQTT_PROXY_FROM)")
	fs.StringVar(&o.Node, "node", env("DOLBOM_NODE", ""), "this gateway's name among gateways sharing a database, under which it keeps the hubs it serves for its next start (its load guard lets them in); default: the host name, which a container re-created gets anew (DOLBOM_NODE)")
	fs.StringVar(&o.CAPURLs, "cap-url", env("DOLBOM_CAP_URL", ""), "119 endpoint(s) for CAP 1.2 alerts, comma-separated: the route of every 시도 that has none of its own (dolbomctl region route; docs/operations.md) (DOLBOM_CAP_URL)")
	fs.BoolVar(&o.AllowNoDistrict, "allow-residents-without-district", envBool("DOLBOM_ALLOW_RESIDENTS_WITHOUT_DISTRICT"),
		"start although enabled residents have no district (시군구) while the 119 routes differ by 시도; their CAP messages wait in the outbox until it is set (docs/operations.md) (DOLBOM_ALLOW_RESIDENTS_WITHOUT_DISTRICT)")
	fs.StringVar(&o.CAPSender, "cap-sender", env("DOLBOM_CAP_SENDER", "gateway@dolbom.local"), "CAP sender id (DOLBOM_CAP_SENDER)")
	fs.StringVar(&o.CAPAddressee, "cap-addressee", env("DOLBOM_CAP_ADDRESSEE", ""),
		"the 119 centre CAP messages are for, named in their restriction (DOLBOM_CAP_ADDRESSEE; default "+cap.DefaultAddressee+")")
	fs.StringVar(&o.Contact, "contact-phone", env("DOLBOM_CONTACT_PHONE", ""), "monitoring centre phone given to 119 (DOLBOM_CONTACT_PHONE)")
	fs.StringVar(&o.PublicURL, "public-url", env("DOLBOM_PUBLIC_URL", ""), "public base URL of this gateway, for Twilio callbacks (DOLBOM_PUBLIC_URL)")
	fs.StringVar(&o.DispatchPolicy, "dispatch-policy", env("DOLBOM_DISPATCH_POLICY", ""), "escalation policy JSON file overriding the defaults (DOLBOM_DISPATCH_POLICY)")
	fs.StringVar(&o.Twilio.APIURL, "twilio-api-url", env("DOLBOM_TWILIO_API_URL", ""), "point the Twilio client at another server (DOLBOM_TWILIO_API_URL)")
	fs.StringVar(&o.TwilioMode, "twilio", env("DOLBOM_TWILIO", ""), "\"fake\": the built-in fake Twilio, which reaches nobody (tests, demos); empty or \"real\": "+
		"the account in TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN, required then; --demo without an account implies fake (DOLBOM_TWILIO)")
	fs.StringVar(&o.Twilio.From, "twilio-from", env("DOLBOM_TWILIO_FROM", ""), "Twilio number SMS and calls come from, E.164 (DOLBOM_TWILIO_FROM)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.TrustedProxies, err = web.ParseTrustedProxies(proxies); err != nil {
		envErrs = append(envErrs, fmt.Errorf("--trusted-proxies / DOLBOM_TRUSTED_PROXIES: %w", err))
	}
	// Secrets come from the environment, never a flag (flags show in
	// `ps`), or from the file NAME_FILE names: a container's secret, which
	// unlike a variable does not show in `docker inspect`.
	secret := func(name string, emptyFileOK bool) string {
		v, err := secretFromEnv(getenv, name, emptyFileOK)
		if err != nil {
			envErrs = append(envErrs, err)
		}
		return v
	}
	o.AdminToken = secret("DOLBOM_ADMIN_TOKEN", false)
	o.SecretKey = secret("DOLBOM_SECRET_KEY", false)
	o.CAPAnswerToken = secret("DOLBOM_CAP_ANSWER_TOKEN", false)
	o.Twilio.AccountSID = getenv("TWILIO_ACCOUNT_SID")
	// An empty token file is no account (DOLBOM_TWILIO=fake then), so that
	// one compose file serves both.
	o.Twilio.AuthToken = secret("TWILIO_AUTH_TOKEN", true)
	if password := secret("DOLBOM_DATABASE_PASSWORD", false); password != "" {
		u, err := withPassword(o.DatabaseURL, password)
		if err != nil {
			envErrs = append(envErrs, err)
		}
		o.DatabaseURL = u
	}
	return o, errors.Join(append(envErrs, o.validate())...)
}

// secretFromEnv returns the secret in the variable name, or in the file
// that name_FILE names (its trailing line break removed); both set is an
// error, and so is an empty file unless emptyFileOK.
func secretFromEnv(getenv func(string) string, name string, emptyFileOK bool) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	switch {
	case file == "":
		return v, nil
	case v != "":
		return "", fmt.Errorf("%s and %s_FILE are both set: give one", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	v = strings.TrimRight(string(b), "\r\n")
	if v == "" && !emptyFileOK {
		return "", fmt.Errorf("%s_FILE: %s is empty", name, file)
	}
	return v, nil
}

// withPassword puts a password into a postgres:// URL that has none.
func withPassword(databaseURL, password string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || databaseURL == "" {
		return databaseURL, errors.New("DOLBOM_DATABASE_PASSWORD goes with a postgres:// DOLBOM_DATABASE_URL")
	}
	if _, has := u.User.Password(); has {
		return databaseURL, errors.New("DOLBOM_DATABASE_URL has a password and DOLBOM_DATABASE_PASSWORD gives one too: give one")
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String(), nil
}

func (o Options) validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if (o.MQTTAddr == "" || o.MQTTAddr == "off") && o.CertFile == "" && o.WSAddr == "" {
		errs = append(errs, errors.New("no MQTT listener: set --mqtt-addr, --tls-cert/--tls-key or --mqtt-ws-addr"))
	}
	switch o.LogFormat {
	case "json", "console", "auto":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want json, console or auto", o.LogFormat))
	}
	if o.HeartbeatTimeout < 30*time.Second {
		errs = append(errs, fmt.Errorf("--heartbeat-timeout %s is below 30s", o.HeartbeatTimeout))
	}
	errs = append(errs, o.validateTwilio()...)
	if _, err := broker.MemoryGuard(o.MemoryHighWater); err != nil {
		errs = append(errs, fmt.Errorf("--memory-high-water / DOLBOM_MEMORY_HIGH_WATER %w", err))
	}
	if _, _, err := memlimit.ParseMaxHubs(o.MaxHubs); err != nil {
		errs = append(errs, fmt.Errorf("--max-hubs / DOLBOM_MAX_HUBS %w", err))
	}
	if o.ConnectYieldAt < 0 {
		errs = append(errs, errors.New("--connect-yield-at must be positive, or 0 for never"))
	}
	if o.BusyWait < 0 {
		errs = append(errs, errors.New("--busy-wait must be positive, or 0 for no load guard"))
	}
	if o.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	if o.DatabaseURL != "" && !strings.HasPrefix(o.DatabaseURL, "postgres://") && !strings.HasPrefix(o.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("--database-url must be a postgres:// URL"))
	}
	return errors.Join(errs...)
}

// validateTwilio refuses a Twilio set-up that would fail silently: an
// account whose callbacks cannot arrive (no public URL, or one Twilio
// cannot reach), or no account without the fake having been chosen.
func (o Options) validateTwilio() []error {
	var errs []error
	account := o.Twilio.AccountSID != "" || o.Twilio.AuthToken != ""
	switch o.TwilioMode {
	case "", "real", "fake":
	default:
		return []error{fmt.Errorf("--twilio / DOLBOM_TWILIO %q: want fake or real", o.TwilioMode)}
	}
	if o.PublicURL != "" {
		// The real Twilio calls from the internet; a stand-in
		// (--twilio-api-url) may call back on this machine.
		if err := twilio.CheckPublicURL(o.PublicURL, account && o.Twilio.APIURL == ""); err != nil {
			errs = append(errs, fmt.Errorf("--public-url / DOLBOM_PUBLIC_URL: %w", err))
		}
	}
	switch {
	case account && o.TwilioMode == "fake":
		errs = append(errs, errors.New("TWILIO_ACCOUNT_SID is set and --twilio=fake asks for the fake Twilio: choose one"))
	case account:
		if o.Twilio.AccountSID == "" || o.Twilio.AuthToken == "" {
			errs = append(errs, errors.New("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN go together"))
		}
		if o.Twilio.From == "" {
			errs = append(errs, errors.New("a Twilio account needs the number SMS and calls come from: set DOLBOM_TWILIO_FROM (--twilio-from), E.164"))
		}
		if o.PublicURL == "" {
			errs = append(errs, errors.New("a Twilio account needs the public URL where Twilio reaches this gateway: set DOLBOM_PUBLIC_URL (--public-url), "+
				"e.g. https://gw.dolbom.example.kr; without it keypad and SMS acknowledgements never arrive"))
		}
	case o.TwilioMode == "real":
		errs = append(errs, errors.New("--twilio=real without an account: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, DOLBOM_TWILIO_FROM and DOLBOM_PUBLIC_URL"))
	case !o.fakeTwilio():
		errs = append(errs, errors.New("no Twilio account: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, DOLBOM_TWILIO_FROM and DOLBOM_PUBLIC_URL, "+
			"or run on the built-in fake Twilio, which reaches nobody, with --twilio=fake or DOLBOM_TWILIO=fake (--demo implies it)"))
	}
	return errs
}

func (o Options) gateway() gateway.Options {
	g := gateway.Options{
		DataDir: o.DataDir, DatabaseURL: o.DatabaseURL,
		MQTTAddr: o.MQTTAddr, TLSAddr: o.TLSAddr, CertFile: o.CertFile, KeyFile: o.KeyFile, WSAddr: o.WSAddr,
		HTTPAddr: o.HTTPAddr, AdminToken: o.AdminToken, SecretKey: o.SecretKey,
		Firmware:         gateway.FirmwareOptions{URL: o.FirmwareURL, VendorKey: o.FirmwareKey},
		HeartbeatTimeout: o.HeartbeatTimeout, RawRetention: o.RawRetention, ShutdownTimeout: o.ShutdownTimeout,
		Demo: o.Demo, DispatchPolicy: o.DispatchPolicy, SecureCookies: o.SecureCookies, TrustedProxies: o.TrustedProxies,
		Broker: broker.Config{ReadingsRate: o.ReadingsRate, ReadingsBurst: o.ReadingsBurst, EventsRate: o.EventsRate, EventsBurst: o.EventsBurst,
			WSAllowedOrigins: splitList(o.WSOrigins), ProxyFrom: splitList(o.MQTTProxyFrom)},
		Channels: gateway.ChannelOptions{
			CAPURLs: splitList(o.CAPURLs), AllowNoDistrict: o.AllowNoDistrict, CAPSender: o.CAPSender, CAPAnswerToken: o.CAPAnswerToken, Contact: o.Contact, CAPAddressee: o.CAPAddressee,
			TwilioAccountSID: o.Twilio.AccountSID, TwilioAuthToken: o.Twilio.AuthToken, TwilioFrom: o.Twilio.From,
			TwilioAPIURL: o.Twilio.APIURL, PublicURL: o.PublicURL, FakeTwilio: o.fakeTwilio(),
		},
	}
	g.Broker.MemoryHighWater, _ = broker.MemoryGuard(o.MemoryHighWater) // validated
	g.Broker.BusyWait = o.BusyWait                                      // validated: 0 is no guard
	g.Broker.Node = o.Node                                              // "": the host name
	g.Broker.ConnectYieldAt = o.ConnectYieldAt                          // validated: 0 is never
	g.Cluster = gateway.ClusterOptions{Enabled: o.Cluster, Renew: o.ClusterRenew, TTL: o.ClusterTTL, Scan: o.ClusterScan}
	if o.Demo && g.Channels.FakeTwilio {
		// The demo's people: guardians get the SMS, answer the call five
		// seconds later and press 1 (on my way), then 20# (20 minutes).
		g.Channels.FakeBehaviour = fake.Behaviour{SMSStatus: "delivered", CallOutcome: "human", Digits: "1", Then: "20#", After: 5 * time.Second}
		g.Channels.WatchFakeTwilio = true
	}
	return g
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
