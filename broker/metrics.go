package broker

import (
	"github.com/dolbom/dolbom/devices"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Refusal reasons of CONNECT, the label of connect_refused_total.
const (
	refuseClientID    = "bad_client_id" // client id != user name, or not a hub id
	refuseUnknownHub  = "unknown_hub"
	refuseBadPassword = "bad_password"
	refuseBadHash     = "bad_secret_hash" // the stored hash is unreadable: an admin must rotate
	refuseDisabled    = "disabled"
	refuseRate        = "connect_rate"
	refuseStore       = "store_error"
	refuseBusy        = "verify_busy" // the verifier pool did not get to it in time
	refuseBadWill     = "bad_will"    // a last will not on the hub's status topic, not retained, or not a status
	refuseShutdown    = "shutdown"
	refuseAdmit       = "admission_wait" // no CONNECT slot within AdmitWait: refused as busy
	refuseRevoked     = "revoked"        // Revoke ran while the CONNECT was being checked
	refuseOwnership   = "ownership"      // the cluster could not give this node the hub's home (database or lease)
	// refuseCapacity and refuseMemory: see capacity.go.

	// Connections that never reached our OnConnect: mochi ended them itself.
	refuseConnectTimeout = "connect_timeout"   // no CONNECT within ConnectTimeout (on every listener)
	refuseNoConnect      = "no_connect"        // closed before sending a CONNECT (probes, scanners)
	refuseMalformed      = "malformed_connect" // first packet not a CONNECT, or undecodable
	refuseInvalid        = "invalid_connect"   // mochi refused it with a CONNACK (protocol version, will QoS 2, ...)
	refuseOrigin         = "ws_origin"         // a WebSocket upgrade from a browser origin not allowed (no connection made)
	refuseProxyUntrusted = "proxy_untrusted"   // with ProxyFrom: a connection from an address that is not a trusted balancer (closed at once)
	refuseProxyHeader    = "proxy_header"      // with ProxyFrom: a trusted balancer's connection without a valid PROXY header
)

// Not counted anywhere: a TLS handshake that fails (Go's TLS server does it
// on the first Read, so it shows as malformed_connect or no_connect), and a
// WebSocket handshake that fails for another reason than its origin (the
// HTTP handler answers it before any connection exists).

type metrics struct {
	connected        prometheus.Gauge
	maxHubs          prometheus.Gauge
	hubsHeld         prometheus.Gauge
	memoryGuard      prometheus.Gauge
	loadGuard        prometheus.Gauge
	loadGuardPassed  prometheus.Counter
	connectDoorShut  prometheus.Gauge
	connectsYielded  prometheus.Counter
	received         map[devices.Channel]prometheus.Counter
	refused          *prometheus.CounterVec
	rejected         *prometheus.CounterVec
	aclDenied        *prometheus.CounterVec
	eventsDropped    prometheus.Counter
	readingsDropped  prometheus.Counter
	notTaken         prometheus.Counter
	acksHeld         prometheus.Counter
	storeFailures    *prometheus.CounterVec
	emergencyQoS0    prometheus.Counter
	sessionsExpired  prometheus.Counter
	released         prometheus.Counter
	heldSaves        *prometheus.CounterVec
	journalLatency   *prometheus.HistogramVec
	verifyCacheHits  prometheus.Counter
	verifySlow       prometheus.Counter
	verifyFast       prometheus.Counter
	journalLatencyBy map[devices.Channel]prometheus.Observer
	eventsReceived   map[devices.EventKind]prometheus.Counter
	rejectsSilenced  prometheus.Counter
	refusalKicks     prometheus.Counter
	panics           prometheus.Counter
	handoffWorkers   prometheus.Gauge
	handoffWaits     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	const ns, sub = "dolbom", "broker"
	m := &metrics{
		connected: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "hubs_connected",
			Help: "Hubs connected now."}),
		maxHubs: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "max_hubs",
			Help: "Hubs this node carries (--max-hubs); 0: no cap."}),
		hubsHeld: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "hubs_admitted",
			Help: "Connections holding a place of max_hubs: connected hubs and those being authenticated."}),
		memoryGuard: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "memory_guard",
			Help: "1 while the memory guard refuses new hubs (live heap and stacks above the high water of the memory limit)."}),
		loadGuard: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "load_guard",
			Help: "1 while the load guard refuses new hubs (hubs' messages waited longer than --busy-wait to be handled)."}),
		loadGuardPassed: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "load_guard_passed_total",
			Help: "CONNECTs the load guard let in while on because this node served the hub: a kept session, or held before the restart."}),
		connectDoorShut: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "connect_door_shut",
			Help: "1 while new CONNECTs wait for the cores to clear (runnable goroutines' wait p99 above --connect-yield-at)."}),
		connectsYielded: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "connects_yielded_total",
			Help: "CONNECTs that waited at the door (up to 2 s each) for the cores to clear before being processed."}),
		released: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_released_total",
			Help: "Hub connections ended because the hub's home moved to another gateway of the cluster, or this gateway left the cluster at a graceful stop (no will published)."}),
		refused: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "connect_refused_total",
			Help: "CONNECTs refused, by reason."}, []string{"reason"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejected_total",
			Help: "Hub messages refused, by protocol error code."}, []string{"code"}),
		aclDenied: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "acl_denied_total",
			Help: "Publishes and subscriptions outside the hub's own topics."}, []string{"action"}),
		eventsDropped: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_dropped_total",
			Help: "Events decoded but neither refused nor handed on, with nobody to send them again (QoS 0). Must stay 0."}),
		readingsDropped: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "readings_dropped_total",
			Help: "QoS 0 readings, accel or heartbeat messages the journal did not take in time."}),
		notTaken: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "not_taken_at_shutdown_total",
			Help: "Publishes that arrived after intake stopped at shutdown, left unacknowledged for the hub to resend."}),
		acksHeld: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "acks_held_total",
			Help: "Emergency events whose PUBACK was held for the hub's rate limit (push back)."}),
		storeFailures: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "journal_failures_total",
			Help: "Journal appends that failed or timed out; the hub was refused and disconnected."}, []string{"channel"}),
		emergencyQoS0: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "emergency_qos0_total",
			Help: "Emergency events sent at QoS 0 (accepted, and the hub warned)."}),
		sessionsExpired: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_expired_total",
			Help: "Disconnected hub sessions deleted after their expiry."}),
		heldSaves: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "held_hubs_saves_total",
			Help: "Saves of the set of hubs the node holds, by outcome: saved, unchanged (skipped), failed."}, []string{"outcome"}),
		journalLatency: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "publish_journal_seconds",
			Help:    "Time from a publish's arrival to the journal's answer.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1, 5}}, []string{"channel"}),
		verifyCacheHits: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "verify_cache_hits_total",
			Help: "CONNECTs with a legacy argon2id hash verified from the per-hub cache."}),
		verifyFast: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "verify_sha256_total",
			Help: "CONNECTs verified against a SHA-256 hub secret hash."}),
		verifySlow: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "verify_argon2_total",
			Help: "CONNECTs verified with argon2id (hubs provisioned before SHA-256 hashes)."}),
		rejectsSilenced: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejects_silenced_total",
			Help: "Refused messages not explained to the hub because its refusals budget was spent."}),
		refusalKicks: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "refusal_disconnects_total",
			Help: "Hubs disconnected after too many refused messages in a row."}),
		panics: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "panics_total",
			Help: "Panics recovered in the broker's hooks; the input was kept as poison and the hub disconnected. Must stay 0."}),
		handoffWorkers: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "handoff_workers",
			Help: "Goroutines handling hubs' publishes off mochi's read goroutines (running or parked)."}),
		handoffWaits: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "handoff_full_waits_total",
			Help: "Times a hub's read goroutine waited because its queue of publishes was full (push back)."}),
		received:         map[devices.Channel]prometheus.Counter{},
		eventsReceived:   map[devices.EventKind]prometheus.Counter{},
		journalLatencyBy: map[devices.Channel]prometheus.Observer{},
	}
	rv := f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_received_total",
		Help: "Messages hubs published, by channel."}, []string{"channel"})
	for _, ch := range []devices.Channel{devices.ChanReadings, devices.ChanEvents, devices.ChanAccel,
		devices.ChanStatus, devices.ChanHeartbeat, devices.ChanCmdAck} {
		// Resolved once so that the publish path allocates no label lookups.
		m.received[ch] = rv.WithLabelValues(string(ch))
		m.journalLatencyBy[ch] = m.journalLatency.WithLabelValues(string(ch))
	}
	ev := f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_received_total",
		Help: "Events hubs published that decoded, by kind (before rate limits and deduplication)."}, []string{"kind"})
	for k := range devices.EventKinds {
		m.eventsReceived[k] = ev.WithLabelValues(string(k))
	}
	return m
}
