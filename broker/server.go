// Package broker embeds the mochi-mqtt broker that hubs connect to: its
// listeners, the authentication, ACL and ingest hooks, per-hub rate limits,
// and the session housekeeping that replaces mochi's event loop.
//
// mochi's Serve is deliberately not called. Its event loop copies the whole
// client map every second for session and inflight expiry (about one core at
// 300,000 idle hubs), reads runtime.MemStats for $SYS topics and expires
// retained messages by scanning them all. Instead Run starts the listeners
// itself and runs a sweeper that visits only the sessions it saw disconnect.
// What else that loop did and why we do without it:
//   - delayed wills: OnConnect sets every will's delay to 0, so mochi
//     publishes wills at once and nothing waits in its delayed-will queue;
//   - inflight expiry: QoS 1 commands to a hub are bounded per hub
//     (MaxInflight) and the expired ones are cleared when the hub comes back,
//     just before mochi would resend them, and with the session on expiry;
//   - retained expiry: the only retained messages are hub status, one per hub;
//   - $SYS topics: hubs may not subscribe to them; metrics go to Prometheus.
//
// A hub's publishes on its own non-retained upstream topics (readings,
// accel, heartbeat, cmd/ack, events) are not handled on mochi's read
// goroutine: OnPacketRead hands them to workers that keep each hub's order
// and write the PUBACK themselves (handoff.go), so that the read goroutine,
// one per hub, stays at 16 KiB of stack instead of growing to 32 KiB on
// every publish, and an event waiting for its fsync does not stop the hub's
// connection from being read. SUBSCRIBE and UNSUBSCRIBE the broker answers
// on the same workers itself: it keeps hubs' subscriptions and writes them
// commands and rejects without mochi's topic index (subscriptions.go). The
// rest (the retained status, another hub's topic, topic aliases, protocol
// errors) mochi processes on the same workers (Server.InjectPacket), its
// publishes through OnPublish, which shares the handling (takePublish);
// only QoS 2 stays on the read goroutine.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/devices"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Errors of SendCommand.
var (
	// ErrNoSession: the hub has no session (never connected, or away longer
	// than the session expiry), so a command would reach nobody.
	ErrNoSession = errors.New("broker: hub has no session")
	// ErrNotSubscribed: the hub's session is not subscribed to its cmd topic.
	ErrNotSubscribed = errors.New("broker: hub is not subscribed to its commands")
	// ErrCommandQueueFull: too many commands are unacknowledged for the hub.
	ErrCommandQueueFull = errors.New("broker: hub's command queue is full")
	// ErrNotRunning: the broker is not serving.
	ErrNotRunning = errors.New("broker: not running")
)

// Server is the MQTT broker of the gateway.
type Server struct {
	cfg     Config
	mq      *mqtt.Server
	journal Journal
	ingest  Ingester
	// shared: both ports share decoded readings batches (BatchSharer), so
	// takePublish decodes them from the pool.
	shared bool
	dir    HubDirectory
	log    zerolog.Logger
	m      *metrics

	verify     *verifier
	admit      chan struct{} // a slot per CONNECT being processed (MaxConnecting)
	congestion *congestion   // holds CONNECTs while the cores are saturated (ConnectYieldAt)
	capacity   *capacity     // places for hubs (MaxHubs) and the memory guard
	door       *door         // a full node's early refusals (refuse.go)
	held       heldHubs      // the hubs held before the restart, let past the load guard
	ipLimit    *ipLimiter
	states     *hubStates
	expiry     expiryQueue
	connected  atomic.Int64
	publishing atomic.Int64 // publishes under way: in OnPublish, or handed off and not yet handled
	pool       *handoff
	// direct leaves every publish to mochi's path (OnPublish on the hub's
	// read goroutine), as before the handoff: tests run the same cases both
	// ways, and benchmarks compare the two.
	direct  bool
	running atomic.Bool
	ready   atomic.Bool
	// heldLoaded: Run has read the held hubs back, so a save holds them
	// (a gateway stopped before its broker ran must not save an empty set
	// over them).
	heldLoaded atomic.Bool
	// closing: the gateway is stopping (StopIntake): no connection is
	// accepted and nothing hubs send is taken, while they stay connected
	// until Run's disconnect pass.
	closing atomic.Bool

	// hookCtx bounds journal and directory calls made from hooks; it ends
	// only after the shutdown drain, so in-flight publishes can finish.
	hookCtx    context.Context
	hookCancel context.CancelFunc
	// ackCtx bounds the journal wait of each publish by AckTimeout (plus at
	// most AckTimeout/8) and by hookCtx, with a context shared per slice.
	ackCtx *ackDeadlines

	listenerMu  sync.Mutex
	listenerIDs []string
	pipeSeq     int
}

// New builds the broker and opens its network listeners (so that a port in
// use is reported here, not later). Serve with Run.
func New(cfg Config, j Journal, in Ingester, dir HubDirectory, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		journal:  j,
		ingest:   in,
		shared:   sharesBatches(j) && sharesBatches(in),
		dir:      dir,
		log:      log.With().Str("component", "broker").Logger(),
		m:        newMetrics(reg),
		verify:   newVerifier(),
		admit:    make(chan struct{}, cfg.MaxConnecting),
		capacity: newCapacity(cfg),
		ipLimit:  newIPLimiter(cfg.ConnectRate, cfg.ConnectBurst, cfg.MaxTrackedIPs),
		states:   newHubStates(),
	}
	s.m.maxHubs.Set(float64(max(cfg.MaxHubs, 0)))
	s.door = newDoor(laneCap, s.m.refused) // laneCap: the receive maximum mochi is given below
	s.held.node = cfg.Node
	if hs, ok := dir.(HeldHubs); ok {
		s.held.store = hs
	}
	s.pool = newHandoff(s)
	s.hookCtx, s.hookCancel = context.WithCancel(context.Background())
	s.ackCtx = newAckDeadlines(s.hookCtx, cfg.AckTimeout)
	s.congestion = newCongestion(cfg.ConnectYieldAt, s.hookCtx.Done(), func(shut bool) { s.m.connectDoorShut.Set(b2f(shut)) })

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = int32(cfg.WritesPending)
	caps.MaximumSessionExpiryInterval = uint32(min(cfg.SessionExpiry/time.Second, 1<<32-1))
	caps.MaximumMessageExpiryInterval = int64(cfg.SessionExpiry / time.Second)
	// The payload limit plus room for the topic, properties and header.
	caps.MaximumPacketSize = uint32(cfg.Limits.MaxPayload + 4096)
	caps.ReceiveMaximum = laneCap // a hub within it never waits for room in its handoff lane
	caps.MaximumInflight = uint16(min(cfg.MaxInflight, 65535))
	// docs/protocol.md: QoS 2 is treated as QoS 1. MQTT 5 hubs are told in
	// CONNACK; mochi downgrades QoS 2 publishes (answered with PUBACK) and
	// subscriptions, and refuses a QoS 2 will.
	caps.MaximumQos = 1
	// Topics are short; aliases would cost a map per hub for nothing.
	caps.TopicAliasMaximum = 0
	caps.SharedSubAvailable = 0

	mlog := log.Level(max(zerolog.WarnLevel, log.GetLevel())).With().Str("component", "mochi").Logger()
	s.mq = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  cfg.ReadBufferSize,
		ClientNetWriteBufferSize: cfg.WriteBufferSize,
		Logger:                   slog.New(quietHandler{zerolog.NewSlogHandler(mlog)}),
		InlineClient:             true, // rejects and commands are published through it
	})
	if err := s.mq.AddHook(&hook{s: s}, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	if err := s.mq.AddHook(&retainedDropper{topics: s.mq.Topics}, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	if err := s.openListeners(); err != nil {
		s.closeListeners()
		return nil, err
	}
	return s, nil
}

func (s *Server) openListeners() error {
	if s.cfg.TCPAddr != ListenerOff {
		l, err := s.listenTCP(s.cfg.TCPAddr)
		if err != nil {
			return fmt.Errorf("broker: listen tcp: %w", err)
		}
		if err := s.addNet("tcp", l); err != nil {
			l.Close()
			return err
		}
	}
	if s.cfg.CertFile != "" && s.cfg.KeyFile != "" && s.cfg.TLSAddr != ListenerOff {
		cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("broker: tls key pair: %w", err)
		}
		raw, err := s.listenTCP(s.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("broker: listen tls: %w", err)
		}
		// The PROXY header comes before the TLS handshake: under it.
		l := tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err := s.addNet("tls", l); err != nil {
			l.Close()
			return err
		}
	}
	if s.cfg.WSAddr != "" && s.cfg.WSAddr != ListenerOff {
		l, err := newWSListener(s.cfg.WSAddr, s.cfg, func() { s.m.refused.WithLabelValues(refuseOrigin).Inc() })
		if err != nil {
			return fmt.Errorf("broker: listen websocket: %w", err)
		}
		if err := s.addNet("ws", l); err != nil {
			l.Close()
			return err
		}
	}
	return nil
}

// listenTCP listens on addr, behind the PROXY protocol when ProxyFrom is
// set (proxyproto.go).
func (s *Server) listenTCP(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil || len(s.cfg.ProxyFrom) == 0 {
		return l, err
	}
	pl, err := s.proxyListener(l, s.cfg.ProxyFrom)
	if err != nil {
		l.Close()
		return nil, err
	}
	return pl, nil
}

func (s *Server) addNet(id string, l net.Listener) error {
	if s.closing.Load() {
		return ErrNotRunning
	}
	if err := s.mq.AddListener(listeners.NewNet(id, deadlineListener{l, s.cfg.ConnectTimeout})); err != nil {
		return fmt.Errorf("broker: add listener %s: %w", id, err)
	}
	s.listenerMu.Lock()
	s.listenerIDs = append(s.listenerIDs, id)
	running := s.ready.Load()
	s.listenerMu.Unlock()
	if running {
		s.mq.Listeners.Serve(id, s.establish)
	}
	return nil
}

// AddListener serves MQTT on l too (a PipeListener, or any net.Listener),
// before or while Run runs. Run closes it at shutdown.
func (s *Server) AddListener(l net.Listener) error {
	s.listenerMu.Lock()
	s.pipeSeq++
	id := l.Addr().Network() + "-" + strconv.Itoa(s.pipeSeq)
	s.listenerMu.Unlock()
	return s.addNet(id, l)
}

// Addr returns the address of the listener with the given id ("tcp", "tls",
// "ws"), for tests that listen on port 0; "" when there is none.
func (s *Server) Addr(id string) string {
	if l, ok := s.mq.Listeners.Get(id); ok {
		return l.Address()
	}
	return ""
}

// deadlineListener gives every accepted connection a deadline for sending
// CONNECT: mochi reads it with none, and refreshes the deadline from the
// keepalive once the hub is in.
type deadlineListener struct {
	net.Listener
	d time.Duration
}

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(l.d))
	}
	return c, err
}

// trackedConn is every connection as mochi sees it (Server.establish wraps
// each one, whatever its listener): the hooks of one connection all run on
// its own goroutine, so it carries their per-connection facts without a
// lock or a global map.
type trackedConn struct {
	net.Conn
	admit       chan struct{} // its CONNECT slot (OnConnect took one) until release
	placed      bool          // it holds a place of the node's capacity, given back when mochi is done with it
	hub         *hubState     // the hub it authenticated as (OnConnect), whose places it counts in
	reached     bool          // OnConnect ran
	authed      bool          // OnConnect accepted the hub
	gen         uint64        // the hub's generation when its record was read
	epoch       devices.Epoch // the hub's ownership epoch claimed at its CONNECT (0 on a single gateway)
	revoked     bool          // Revoke ran between the read and OnSessionEstablish
	cl          *mqtt.Client
	established bool // OnSessionEstablished ran
	// kicked: the gateway ended this connection (kick); its publishes still
	// queued for the handoff are dropped, as mochi would have read no further.
	kicked atomic.Bool
	// moved: the hub's home moved to another node of the cluster (Release):
	// the session ends without its will, as the hub is not offline.
	moved atomic.Bool
	// peeked is what the door (refuse.go) read of the CONNECT of a hub it
	// let through, in peekBuf (pooled): Read gives it to mochi first. Only
	// mochi's read goroutine reads, so no lock.
	peeked  []byte
	peekBuf *[connectPeek]byte
}

// Read replays what the door read, then reads the connection.
func (tc *trackedConn) Read(p []byte) (int, error) {
	if tc.peekBuf == nil {
		return tc.Conn.Read(p)
	}
	n := copy(p, tc.peeked)
	if tc.peeked = tc.peeked[n:]; len(tc.peeked) == 0 {
		peekPool.Put(tc.peekBuf)
		tc.peeked, tc.peekBuf = nil, nil
	}
	return n, nil
}

// establish serves one accepted connection through mochi, then accounts for
// what mochi did without telling a hook: connections it ended before
// OnConnect, and clients it gave up on between OnSessionEstablish and
// OnSessionEstablished (a CONNACK that could not be written), which never
// reach OnDisconnect.
func (s *Server) establish(listener string, c net.Conn) error {
	var peeked []byte
	var peekBuf *[connectPeek]byte
	if s.capacity.refusing() {
		var refused bool
		if refused, peeked, peekBuf = s.refuseAtDoor(c); refused {
			// Answered and counted: nothing for mochi's listener to log.
			return nil
		}
	}
	tc := &trackedConn{Conn: c, peeked: peeked, peekBuf: peekBuf}
	err := s.mq.EstablishConnection(listener, tc)
	tc.release()
	if tc.peekBuf != nil { // mochi stopped before reading all the door read
		peekPool.Put(tc.peekBuf)
		tc.peekBuf = nil
	}
	// mochi returns only when it is done with the connection, whatever
	// happened: the one place where its capacity is given back.
	if tc.placed {
		s.capacity.release()
		s.m.hubsHeld.Dec()
	}
	if tc.hub != nil {
		tc.hub.places.Add(-1)
	}
	switch {
	case !tc.reached:
		s.m.refused.WithLabelValues(preConnectReason(err)).Inc()
	case tc.cl != nil && !tc.established:
		// Its session (possibly taken over from the previous connection) is
		// in mochi's client map and the hub's state points at it: report the
		// hub gone and let the sweeper expire the session.
		if w := tc.cl.Properties.Will; w.Flag > 0 && s.willGoesOut(tc.cl) {
			_ = s.mq.Publish(w.TopicName, w.Payload, false, w.Qos) // not retained: see OnWill
		}
		expire := (tc.cl.Properties.ProtocolVersion == 5 && tc.cl.Properties.Props.SessionExpiryInterval == 0) ||
			(tc.cl.Properties.ProtocolVersion < 5 && tc.cl.Properties.Clean)
		s.sessionEnded(tc.cl, err, expire, true)
	}
	return err
}

// admitConnect waits up to AdmitWait for a CONNECT slot (see
// Config.MaxConnecting).
func (s *Server) admitConnect() bool {
	select {
	case s.admit <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(s.cfg.AdmitWait)
	defer t.Stop()
	select {
	case s.admit <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-s.hookCtx.Done():
		return false
	}
}

// release gives the connection's CONNECT slot back, if it holds one: when
// its session is established, or when mochi ends it before that.
func (tc *trackedConn) release() {
	if tc.admit != nil {
		<-tc.admit
		tc.admit = nil
	}
}

// preConnectReason names why mochi ended a connection before OnConnect.
func preConnectReason(err error) string {
	var code packets.Code
	var ne net.Error
	switch {
	case isProxyHeaderError(err):
		return refuseProxyHeader
	case errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout(): // gorilla's WebSocket hides the deadline error behind its own
		return refuseConnectTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrClosedPipe), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF):
		return refuseNoConnect
	case errors.As(err, &code) && err == error(code):
		// Returned as is only by mochi's own CONNECT validation, which
		// answered with a CONNACK; read errors come wrapped.
		return refuseInvalid
	default:
		return refuseMalformed
	}
}

// Run serves until ctx ends, then stops intake, disconnects the hubs, waits
// (up to ShutdownTimeout) for publishes being made durable, and returns.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("broker: Run called twice")
	}
	workersCtx, stopWorkers := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	s.verify.run(workersCtx, s.cfg.VerifyWorkers, &workers)
	// Before the listeners serve: the first CONNECTs of a reconnect wave are
	// the hubs the load guard must know.
	s.loadHeld(ctx, time.Now())
	s.heldLoaded.Store(true)
	workers.Add(1)
	go func() {
		defer workers.Done()
		s.saveHeldLoop(workersCtx)
	}()
	defer func() {
		stopWorkers()
		workers.Wait()
		close(s.pool.done) // parked handoff workers exit
	}()

	s.listenerMu.Lock()
	s.mq.Listeners.ServeAll(s.establish)
	s.ready.Store(true)
	ids := append([]string(nil), s.listenerIDs...)
	s.listenerMu.Unlock()
	s.log.Info().Strs("listeners", ids).Msg("broker serving")

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case now := <-tick.C:
			s.sweepExpired(now)
			s.m.memoryGuard.Set(b2f(s.capacity.checkMemory()))
			s.m.loadGuard.Set(b2f(s.capacity.checkLoad(now)))
			s.m.loadGuardPassed.Add(float64(s.capacity.passedLoad.Swap(0)))
			s.capacity.logRefusals(s.log, now)
		}
	}
}

// StopIntake is the first step of a shutdown: it stops accepting
// connections and stops taking what connected hubs send (a publish gets no
// PUBACK, so the hub keeps it and resends it after reconnecting), then waits
// for the publishes under way to be handed on, until ctx ends. The hubs
// stay connected: the detectors can make their final saves while no hub is
// yet backing off, and Run's disconnect pass, the last step, starts the
// hubs' reconnect clocks only moments before the next gateway is up. A
// gateway stopping is not a hub going offline, so no will is published and
// no disconnect is reported to the detectors from now on.
func (s *Server) StopIntake(ctx context.Context) error {
	start := time.Now()
	s.listenerMu.Lock()
	s.ready.Store(false)
	s.closing.Store(true)
	s.listenerMu.Unlock()
	s.closeListeners()
	if s.heldLoaded.Load() {
		// While the hubs are still connected: the set the next start lets
		// back in past the load guard.
		s.saveHeld(ctx, true)
	}
	if !s.awaitPublishes(ctx) {
		// Out of time: the publishes still waiting (a held emergency token,
		// a journal queue) give up without a PUBACK, so their hubs resend
		// them; those already inside a commit get its outcome and are
		// handed on, which the detectors, still running, must see.
		s.hookCancel()
		grace, cancel := context.WithTimeout(context.Background(), commitGrace)
		defer cancel()
		if !s.awaitPublishes(grace) {
			err := fmt.Errorf("broker: %d publishes still under way when intake stopped", s.publishing.Load())
			s.log.Error().Err(err).Msg("stopping anyway; an acknowledged message may not reach the detectors")
			return err
		}
	}
	s.log.Info().Dur("took", time.Since(start)).Int64("connected", s.connected.Load()).Msg("intake stopped; hubs stay connected until the broker stops")
	return nil
}

// commitGrace bounds the wait for publishes inside a journal commit once
// StopIntake has run out of time.
const commitGrace = 5 * time.Second

// awaitPublishes waits until no OnPublish is under way; false if ctx ended
// first.
func (s *Server) awaitPublishes(ctx context.Context) bool {
	for s.publishing.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

func (s *Server) shutdown() {
	start := time.Now()
	if !s.closing.Load() {
		// Stopped without StopIntake (a failed stage, a test): same steps,
		// bounded by the drain below.
		ctx, cancel := context.WithDeadline(context.Background(), start.Add(s.cfg.ShutdownTimeout))
		_ = s.StopIntake(ctx)
		cancel()
	}

	// Writes to hubs that do not read fail at the deadline instead of
	// holding the whole pass up.
	deadline := start.Add(s.cfg.ShutdownTimeout)
	s.states.each(func(st *hubState) {
		st.mu.Lock()
		cl := st.client
		st.mu.Unlock()
		if cl != nil && !cl.Closed() {
			s.disconnect(cl, packets.ErrServerShuttingDown, deadline)
		}
	})

	// Poll rather than wait on a WaitGroup: hubs may still be mid-publish
	// when we start, and a bounded wait must not leave a goroutine behind.
	for (s.publishing.Load() > 0 || s.connected.Load() > 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.hookCancel()
	ev := s.log.Info()
	if n := s.publishing.Load(); n > 0 {
		ev = s.log.Warn().Int64("publishing", n)
	}
	ev.Int64("connected", s.connected.Load()).Dur("took", time.Since(start)).Msg("broker stopped")
}

// Close releases the listeners of a server that will not run (a gateway
// whose construction failed after the broker's): New opens them, and only
// Run's shutdown would close them otherwise. After Run it does nothing more.
func (s *Server) Close() {
	s.listenerMu.Lock()
	s.ready.Store(false)
	s.closing.Store(true)
	s.listenerMu.Unlock()
	s.closeListeners()
	s.hookCancel()
}

// closeListeners stops accepting. It never uses mochi's Close or
// closeListenerClients: Clients.GetByListener read-locks the client map
// twice and deadlocks when a connect or disconnect waits for the write lock
// in between (mochi issue #488). Hubs are disconnected from our own state.
func (s *Server) closeListeners() {
	s.listenerMu.Lock()
	ids := append([]string(nil), s.listenerIDs...)
	s.listenerMu.Unlock()
	for _, id := range ids {
		s.mq.Listeners.Close(id, func(string) {})
	}
}

// disconnect ends a hub's connection with a reason code. MQTT 3.1.1 has no
// DISCONNECT from the server, so those hubs just see the connection close.
// The DISCONNECT is given up at writeBy: a hub that does not read must not
// hold up the caller.
func (s *Server) disconnect(cl *mqtt.Client, code packets.Code, writeBy time.Time) {
	if cl.Properties.ProtocolVersion >= 5 {
		if cl.Net.Conn != nil {
			_ = cl.Net.Conn.SetWriteDeadline(writeBy)
		}
		_ = s.mq.DisconnectClient(cl, code)
		return
	}
	cl.Stop(code)
}

// kickWriteTimeout bounds the DISCONNECT written to a hub we drop.
const kickWriteTimeout = time.Second

// kick disconnects a hub's current connection and records why.
func (s *Server) kick(cl *mqtt.Client, reason string, code packets.Code) {
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		tc.kicked.Store(true)
	}
	if st := s.states.get(cl.ID); st != nil {
		st.mu.Lock()
		st.kicked, st.kickReason = cl, reason
		st.mu.Unlock()
	}
	s.disconnect(cl, code, time.Now().Add(kickWriteTimeout))
}

// sweepExpired deletes the sessions whose expiry has passed, unless the hub
// came back (its expireAt was cleared) or left again later (its expireAt
// moved: the entry is queued again for then).
func (s *Server) sweepExpired(now time.Time) {
	for _, st := range s.expiry.due(now) {
		st.mu.Lock()
		st.queued = false
		switch {
		case st.expireAt == 0:
		case st.expireAt > now.UnixNano():
			st.queued = true
			s.expiry.push(time.Unix(0, st.expireAt), st)
		default:
			st.expireAt = 0
			// Holding st.mu keeps a reconnect of this hub from installing its
			// new client between the check and the delete (OnSessionEstablish
			// takes st.mu before mochi looks up the old session).
			if cl := st.client; cl != nil && cl.Closed() {
				if cur, ok := s.mq.Clients.Get(cl.ID); ok && cur == cl {
					s.mq.Clients.Delete(cl.ID)
					cl.ClearInflights()
					s.m.sessionsExpired.Inc()
				}
				st.client = nil
				s.held.released(cl.ID)
				st.clearSubsLocked()
			}
		}
		st.mu.Unlock()
	}
}

// Revoke forgets the hub's cached verification and disconnects its live
// connection: call it when an admin disables a hub or rotates its secret.
// A connection being authenticated meanwhile, against the record as it was,
// is refused or dropped too: Revoke bumps the hub's generation, which
// OnConnect and OnSessionEstablish check.
func (s *Server) Revoke(hub devices.HubID) {
	s.verify.forget(hub)
	// Created if need be (hub ids are bounded by the registry): a connect
	// under way has read generation 0 and must see it change.
	st := s.states.getOrCreate(string(hub), func() *hubState { return s.newHubState(time.Now()) })
	st.mu.Lock()
	st.gen.Add(1)
	cl := st.client
	st.mu.Unlock()
	if cl != nil && !cl.Closed() {
		s.kick(cl, "kicked", packets.ErrAdministrativeAction)
	}
}

// Disconnect drops the hub's live connection, if any, with reason "poison":
// a later stage could not handle its message (the hub may reconnect).
func (s *Server) Disconnect(hub devices.HubID) {
	if cl := s.liveClient(hub); cl != nil {
		s.kick(cl, "poison", packets.ErrImplementationSpecificError)
	}
}

// Release ends the hub's connection to this node because its home moved to
// another node of the cluster: without its will (the hub is not offline,
// and the status topic would say it is), with the v5 reason "use another
// server". Call it once the detectors have let the home go, so that the
// disconnect raises nothing.
func (s *Server) Release(hub devices.HubID) {
	if cl := s.liveClient(hub); cl != nil {
		s.release(cl)
	}
}

// ReleaseAll ends every hub's connection as moved (see Release): the
// node lost its cluster lease, and each hub must claim its home again,
// here or on another node, before it is watched again.
func (s *Server) ReleaseAll() {
	var live []*mqtt.Client
	s.states.each(func(st *hubState) {
		st.mu.Lock()
		if cl := st.client; cl != nil && !cl.Closed() {
			live = append(live, cl)
		}
		st.mu.Unlock()
	})
	for _, cl := range live {
		s.release(cl)
	}
}

// release ends cl's connection as moved (see Release).
func (s *Server) release(cl *mqtt.Client) {
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		tc.moved.Store(true)
	}
	s.m.released.Inc()
	s.kick(cl, "moved", packets.ErrUseAnotherServer)
}

// liveClient is the hub's current connection, or nil when it has none open.
func (s *Server) liveClient(hub devices.HubID) *mqtt.Client {
	st := s.states.get(string(hub))
	if st == nil {
		return nil
	}
	st.mu.Lock()
	cl := st.client
	st.mu.Unlock()
	if cl == nil || cl.Closed() {
		return nil
	}
	return cl
}

// SendCommand sends c on the hub's cmd topic at QoS 1 (or the QoS 0 the
// hub subscribed with). A hub that is briefly away receives it when it
// reconnects (its session is kept). It returns once the command is written
// or ctx ends, whichever comes first; the command is in the session's
// inflight either way.
func (s *Server) SendCommand(ctx context.Context, hub devices.HubID, c devices.Command) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("broker: send command to %s: %w", hub, err)
	}
	if !s.running.Load() || s.closing.Load() {
		return ErrNotRunning
	}
	if c.At.IsZero() {
		c.At = s.received(time.Time{})
	}
	out, err := s.prepare(hub, devices.ChanCmd, devices.EncodeCommand(c), 1)
	if err != nil {
		return fmt.Errorf("broker: send command to %s: %w", hub, err)
	}
	s.writeBounded(ctx, out)
	return nil
}

// Connected returns the number of hubs connected now.
func (s *Server) Connected() int { return int(s.connected.Load()) }

// Ready reports whether the broker accepts connections.
func (s *Server) Ready() bool { return s.ready.Load() }

// quietHandler drops mochi's per-message logs of what the broker refuses on
// purpose and counts by reason: the listener's warning for every refused
// connection (logged with an empty message) and the hook error logged for
// every publish refused with a reason code. Bad input must not become a log
// flood.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" || r.Message == "publish packet error" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(a)}
}

func (h quietHandler) WithGroup(g string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(g)}
}
