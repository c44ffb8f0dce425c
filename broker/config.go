package broker

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/defaults"
)

// DefaultBusyWait is the load guard's wait that dolbomd and dolbom-sim's
// in-process gateway use unless told otherwise (Config.BusyWait). A
// restart's reconnect wave at 300,000 hubs left ~1% of a second's messages
// waiting 0.5-0.7 s and a node falling over had a PUBACK p50 of 7 s
// (docs/performance.md): 1 s, for more than one message in twenty, is
// between the two.
const DefaultBusyWait = time.Second

// DefaultConnectYieldAt is the wait for a core past which new CONNECTs
// wait at the door (Config.ConnectYieldAt) in dolbomd and dolbom-sim's
// in-process gateway. A goroutine runs for up to 10 ms before the
// scheduler may preempt it, so a p99 wait above that means the runnable
// goroutines queue for the cores; with the hubs online, the quiet rounds'
// SOS took 13-25 ms at p99 from publish to incident across five such hops.
const DefaultConnectYieldAt = 10 * time.Millisecond

// ListenerOff disables a listener whose address would otherwise default.
const ListenerOff = "off"

// Config tunes the broker. The zero value is usable: every field has a
// default chosen for 300,000 hubs on a 2-core gateway (see withDefaults).
type Config struct {
	// TCPAddr is the plain MQTT listener (default ":1883"; ListenerOff
	// disables it, as tests and the memory run over pipes do).
	TCPAddr string
	// TLSAddr is the MQTT over TLS listener, opened only when CertFile and
	// KeyFile are set (default ":8883").
	TLSAddr           string
	CertFile, KeyFile string
	// WSAddr is an optional MQTT over WebSocket listener ("" = none).
	WSAddr string
	// WSAllowedOrigins are the browser origins ("https://host[:port]",
	// compared without regard to case) allowed to open MQTT over WebSocket.
	// An upgrade without an Origin header (hubs, which are not browsers) is
	// always allowed; one from any other origin is refused with 403, so
	// that no web page can reach the broker through a visitor's browser.
	WSAllowedOrigins []string

	// AckTimeout bounds how long a publish waits for the journal before the
	// hub is refused (no PUBACK) and disconnected so that it sends again
	// (default 20 s; plus at most AckTimeout/8, see ackDeadlines). It stays below the hubs' own 30 s PUBACK timeout
	// (docs/protocol.md) but well above a commit: a journal that falls
	// behind for a few seconds should slow hubs down (push back), not
	// disconnect them, or their reconnects add to the load that made it
	// fall behind (measured: a 5 s timeout turned a brief backlog at
	// 100,000 homes into a reconnect storm).
	AckTimeout time.Duration
	// ConnectTimeout is how long a new connection may take to send CONNECT
	// (mochi sets no deadline before CONNECT: idle sockets would pile up).
	ConnectTimeout time.Duration
	// SessionExpiry is how long a disconnected hub's session (subscriptions,
	// queued QoS 1 commands) is kept; also the cap for MQTT 5 hubs.
	SessionExpiry time.Duration
	// MaxKeepalive replaces a keepalive of 0 or above it, so a dead link is
	// noticed within 1.5 times this.
	MaxKeepalive time.Duration
	// ShutdownTimeout bounds Run's drain after its context ends.
	ShutdownTimeout time.Duration

	// MaxConnecting is how many CONNECTs are processed at once, from the
	// arrival of the CONNECT packet to the CONNACK (default 64); AdmitWait
	// is how long a CONNECT waits for one of those slots before it is
	// refused as busy (default 5 s; the hub backs off and retries). A mass reconnect (a
	// gateway restart, a regional power cut) thus queues at the door
	// instead of putting hundreds of thousands of goroutines in the
	// scheduler's run queue, where the connected hubs' emergencies would
	// wait behind them. 64 keeps both cores busy while some CONNECTs wait
	// on the registry.
	MaxConnecting int
	AdmitWait     time.Duration

	// MaxHubs is how many hubs this node carries (0: no cap; dolbomd
	// derives its default from the memory, see README "Capacity"). Past it
	// a CONNECT is refused "server busy" (MQTT 5 0x89, 3.1.1 0x03) unless
	// the hub already holds a place through an earlier connection (a
	// reconnect or takeover: its old connection still counts until it
	// closes); a connected hub is never dropped to make room. The count is
	// taken before it is compared, so concurrent CONNECTs cannot overshoot;
	// a hub reconnecting counts twice for the moment its old connection
	// takes to close.
	MaxHubs int
	// MemoryHighWater is the memory guard: the share of the runtime's
	// memory limit (GOMEMLIMIT, or the one dolbomd sets from the machine)
	// that the live heap plus goroutine stacks may reach before new hubs are
	// refused the same way (default 0.8; negative: no guard). That is what
	// the collector cannot free: past about 80% its cycles come nearly back
	// to back and every hub's latency suffers. Sampled once a second; with
	// no memory limit in force there is no guard.
	MemoryHighWater float64
	// BusyWait is the load guard: when more than one in twenty of the
	// hubs' messages in a second waited longer than this between being read
	// and being handled, new hubs are refused the same way until the node
	// has kept up for 10 s (0 or negative: no guard; dolbomd and dolbom-sim
	// set DefaultBusyWait). The wait is
	// what the CPU, the collector and the journal together leave the hubs
	// already connected; admitting more then would cost every one of them,
	// until PUBACKs time out and hubs reconnect in a storm. Connected hubs,
	// hubs whose session the node keeps and the hubs it held before its
	// restart (HeldHubs) are never refused by it.
	BusyWait time.Duration
	// ConnectYieldAt holds new CONNECTs at the door (for up to 2 s each)
	// while more than one in a hundred of the node's runnable goroutines
	// waited longer than this for a core (0 or negative: never; dolbomd and
	// dolbom-sim set DefaultConnectYieldAt). A connect wave then gives the
	// cores back to the hubs already connected, whose emergencies cannot
	// wait, instead of queuing them behind CONNECTs that can: see
	// congestion.
	ConnectYieldAt time.Duration
	// Node names this broker node's row of held hubs in the store (the
	// hubs it let back in past the load guard after a restart: see
	// HeldHubs; default: the host name). Gateways sharing a PostgreSQL
	// database need different names.
	Node string
	// Owners, in a cluster, claims each hub's home for this node at its
	// CONNECT (see Owners); nil on a single gateway.
	Owners Owners

	// VerifyWorkers is how many argon2id verifications run at once (default
	// GOMAXPROCS). The pool bounds the argon2 memory and keeps its stacks on
	// a few goroutines; it does not need to leave cores idle: during a mass
	// reconnect verifying secrets is the work to do, connected hubs are
	// served by the scheduler between jobs, and a pool of half the cores
	// halves the rate at which a restarted gateway gets its hubs back.
	VerifyWorkers int

	// ConnectRate and ConnectBurst bound CONNECTs per remote address: an
	// IPv4 address or an IPv6 /64 (default 200/s, burst 500; a negative rate
	// disables the limit). The default is generous on purpose: LTE hubs sit
	// behind carrier-grade NAT, so thousands may share one public IPv4
	// address, and after a regional power cut they all reconnect at once; a
	// tight per-IP limit would keep homes offline for minutes. Lower it only
	// for deployments whose hubs have their own addresses. Addresses without
	// an IP (the in-memory pipe listener) are not limited. MaxTrackedIPs
	// bounds the table (default 65,536); when it is full the least recently
	// seen address is forgotten, so a newcomer starts with a full bucket.
	ConnectRate   float64
	ConnectBurst  int
	MaxTrackedIPs int

	// ProxyFrom lists the load balancers (addresses or CIDR ranges) in
	// front of the MQTT TCP and TLS listeners that send the PROXY protocol
	// (HAProxy's send-proxy-v2). Set, those listeners take connections only
	// from them, each with its header, and see the hub's own address in it
	// (the ConnectRate limit, logs); others are closed at once. Empty: no
	// PROXY protocol, connections come straight from the hubs.
	ProxyFrom []string

	// ReadingsRate/ReadingsBurst bound every upstream message but events
	// (readings, accel, heartbeat, status, cmd/ack and anything unknown) per
	// hub, taken before the payload is decoded (default 5/s, burst 300 for
	// store-and-forward after an outage); EventsRate/EventsBurst bound
	// events once decoded (default 10/s, burst 200). Emergencies are never
	// refused: their PUBACK is held until a token comes.
	ReadingsRate  float64
	ReadingsBurst int
	EventsRate    float64
	EventsBurst   int

	// RefusalsRate/RefusalsBurst bound the rejects a hub is sent for refused
	// messages (bad payloads, rate limits, foreign topics; default 1/s,
	// burst 20). Past them refusals are silent (the ack is still sent), and
	// after MaxSilentRefusals silent refusals with no accepted message in
	// between the hub is disconnected (default 50): a hub looping on garbage
	// costs a bounded amount of decoding. A separate bucket from events, so
	// that a garbage flood cannot spend the tokens of a real emergency.
	RefusalsRate      float64
	RefusalsBurst     int
	MaxSilentRefusals int

	// ReadBufferSize is mochi's per-connection read buffer (default 512 B;
	// mochi's 2 KiB quadruples it). It is allocated for every connection and
	// kept while the hub is connected, idle or not: at 300,000 hubs each
	// 512 B is 150 MB. A smaller buffer costs nothing but a second read
	// call for a packet larger than it (a readings batch): mochi reads the
	// fixed header through the buffer, then the body straight into the
	// packet when the buffer is empty and the body larger than it.
	// WriteBufferSize bounds what mochi gathers before writing when packets
	// queue for a hub (default 1 KiB); mochi allocates that buffer only
	// while packets are queued, so it costs an idle hub nothing.
	ReadBufferSize  int
	WriteBufferSize int
	// WritesPending is the outbound queue per hub (default 16: a hub receives
	// a command or a reject now and then; mochi's 8,192 costs 64 KiB).
	WritesPending int
	// MaxInflight is how many QoS 1 messages (commands) are kept per hub
	// while unacknowledged or away (default 32).
	MaxInflight int

	// Limits are the payload decoder's limits (default devices.DefaultLimits).
	Limits devices.Limits

	// Now, when set, is the time messages are received at and connections
	// begin (nil: the wall clock). It decides what the hubs' timestamps are
	// checked against (the 10-minute lead, the 7-day horizon, clock_skew)
	// and what the detectors are told: a gateway on a simulated clock
	// (dolbom-sim soak) sets it with its detectors' and dispatch's. Rate
	// limits, timeouts and latency metrics stay on the wall clock: they
	// guard the machine's CPU and the hubs' patience, which run on it.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := defaults.Set[time.Duration]
	defInt := defaults.Set[int]
	if c.TCPAddr == "" {
		c.TCPAddr = ":1883"
	}
	if c.TLSAddr == "" {
		c.TLSAddr = ":8883"
	}
	def(&c.AckTimeout, 20*time.Second)
	defInt(&c.MaxConnecting, 64)
	def(&c.AdmitWait, 5*time.Second)
	if c.MemoryHighWater == 0 {
		c.MemoryHighWater = 0.8
	}
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	def(&c.ConnectTimeout, 10*time.Second)
	def(&c.SessionExpiry, time.Hour)
	def(&c.MaxKeepalive, 10*time.Minute)
	def(&c.ShutdownTimeout, 10*time.Second)
	defInt(&c.VerifyWorkers, runtime.GOMAXPROCS(0))
	if c.ConnectRate == 0 {
		c.ConnectRate = 200
	}
	defInt(&c.ConnectBurst, 500)
	defInt(&c.MaxTrackedIPs, 1<<16)
	defaults.Set(&c.ReadingsRate, 5)
	defInt(&c.ReadingsBurst, 300)
	defaults.Set(&c.EventsRate, 10)
	defInt(&c.EventsBurst, 200)
	defaults.Set(&c.RefusalsRate, 1)
	defInt(&c.RefusalsBurst, 20)
	defInt(&c.MaxSilentRefusals, 50)
	defInt(&c.ReadBufferSize, 512)
	defInt(&c.WriteBufferSize, 1024)
	defInt(&c.WritesPending, 16)
	defInt(&c.MaxInflight, 32)
	if c.Limits.MaxPayload == 0 {
		c.Limits = devices.DefaultLimits
	}
	return c
}

// MemoryGuard turns an operator's memory high water (dolbomd and dolbom-sim
// --memory-high-water: a share of the memory limit, 0 for no guard) into
// Config.MemoryHighWater, whose 0 means the default.
func MemoryGuard(share float64) (float64, error) {
	switch {
	case share < 0 || share > 1:
		return 0, fmt.Errorf("%g: want a share of the memory limit between 0 (no guard) and 1", share)
	case share == 0:
		return -1, nil
	}
	return share, nil
}
