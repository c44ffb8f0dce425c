package broker

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dolbom/dolbom/devices"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hook connects mochi's events to the Server.
type hook struct {
	mqtt.HookBase
	s *Server
}

func (h *hook) ID() string { return "dolbom" }

func (h *hook) Provides(b byte) bool {
	return bytes.IndexByte([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck,
		mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect,
		mqtt.OnPublish, mqtt.OnPacketRead, mqtt.OnWill,
	}, b) >= 0
}

// OnWill decides, on the goroutine that is about to send it, whether a
// connection's will ("offline", retained on the hub's status topic) goes
// out: not while the gateway stops (a gateway stopping is not a hub going
// offline), and not for a connection the hub has replaced (it would
// overwrite the new connection's retained "online"). mochi sends what this
// returns, so an empty will (no topic, not retained) reaches nobody.
// Deciding here replaces clearing Will.Flag from other goroutines, which
// raced with mochi's own plain writes of the will (a DISCONNECT clears it).
func (h *hook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if !h.s.willGoesOut(cl) {
		return mqtt.Will{}, nil
	}
	will.Retain = false // not stored, as the status is not (OnPublish)
	return will, nil
}

// willGoesOut says whether cl's will is to be published (see OnWill).
func (s *Server) willGoesOut(cl *mqtt.Client) bool {
	if s.closing.Load() || cl.IsTakenOver() {
		return false
	}
	if tc, ok := cl.Net.Conn.(*trackedConn); ok && tc.moved.Load() {
		return false // its home moved to another node (Release): not offline
	}
	if st := s.states.get(cl.ID); st != nil {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.client == nil || st.client == cl
	}
	return true
}

// MQTT 3.1.1 CONNACK return codes. mochi's V5CodesToV3 maps 0x86 to 0x05 and
// does not map 0x87 or 0x9F at all, so the broker picks the v3 code itself.
var (
	v3ClientID     = packets.Code{Code: 0x02, Reason: "identifier rejected"}
	v3Unavailable  = packets.Code{Code: 0x03, Reason: "server unavailable"}
	v3BadPassword  = packets.Code{Code: 0x04, Reason: "bad user name or password"}
	v3NotAuthorize = packets.Code{Code: 0x05, Reason: "not authorized"}
)

// refuseConnect answers CONNECT with the reason code for the hub's MQTT
// version and returns the error that makes mochi drop the connection.
func (s *Server) refuseConnect(cl *mqtt.Client, reason string, v5, v3 packets.Code) error {
	s.m.refused.WithLabelValues(reason).Inc()
	code := v5
	if cl.Properties.ProtocolVersion < 5 {
		code = v3
	}
	_ = s.mq.SendConnack(cl, code, false, nil)
	return fmt.Errorf("broker: connect refused: %s", reason)
}

// OnConnect authenticates a hub: client id = user name = a registered,
// enabled hub id whose secret is the password.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) (err error) {
	s := h.s
	defer func() {
		if r := recover(); r != nil {
			s.poisoned("OnConnect", cl, nil, r)
			err = s.refuseConnect(cl, refuseBusy, packets.ErrServerUnavailable, v3Unavailable)
		}
	}()
	now := time.Now()
	tc, _ := cl.Net.Conn.(*trackedConn)
	if tc == nil { // every listener is served through Server.establish
		return s.refuseConnect(cl, refuseShutdown, packets.ErrServerUnavailable, v3Unavailable)
	}
	tc.reached = true
	if s.closing.Load() {
		return s.refuseConnect(cl, refuseShutdown, packets.ErrServerUnavailable, v3Unavailable)
	}
	if !s.ipLimit.allow(cl.Net.Remote, now) {
		return s.refuseConnect(cl, refuseRate, packets.ErrConnectionRateExceeded, v3Unavailable)
	}
	// Before the CONNECT slot: a hub the node has no place for must not
	// wait up to AdmitWait to be told so. Whether it holds a place already,
	// or was served by this node (a kept session, or held before a restart:
	// see heldHubs), is asked by its claimed id; a false claim gains
	// nothing, as the credentials are checked next.
	held, served := false, s.held.heldBefore(cl.ID, now)
	if st := s.states.get(cl.ID); st != nil {
		held = st.places.Load() > 0
		served = served || st.sessionKept()
	}
	if reason := s.capacity.take(held, served); reason != "" {
		return s.refuseConnect(cl, reason, packets.ErrServerBusy, v3Unavailable)
	}
	tc.placed = true
	s.m.hubsHeld.Inc()
	// The slot is taken once the CONNECT has arrived, not at accept: a
	// socket that stays silent must not hold one (64 idle sockets would
	// otherwise lock every hub out until ConnectTimeout).
	// A connect wave yields the cores to the hubs already connected
	// before it costs anything (see congestion). A hub this node served
	// does not wait: after a restart the whole reconnect wave is such hubs,
	// each with its backlog and perhaps an SOS held while no node served,
	// and holding them at the door (up to 2 s each) stretched the wave
	// from 40 s to 125 s at 300,000 homes (docs/performance.md). The load
	// guard lets them in by the same claim; a false one gains a CONNECT
	// its credentials then refuse.
	if !held && !served && s.congestion.yield() {
		s.m.connectsYielded.Inc()
	}
	if !s.admitConnect() {
		return s.refuseConnect(cl, refuseAdmit, packets.ErrServerBusy, v3Unavailable)
	}
	tc.admit = s.admit
	id := cl.ID
	if string(pk.Connect.Username) != id || id == mqtt.InlineClientId || devices.ValidateHubID(id) != nil {
		return s.refuseConnect(cl, refuseClientID, packets.ErrClientIdentifierNotValid, v3ClientID)
	}
	hub := devices.HubID(id)
	// A will is published without any ACL check or decoding: it may only be
	// the hub's own status, retained (it replaces "online"), and must decode
	// as one, or subscribers would get whatever the hub put there.
	if pk.Connect.WillFlag {
		topic := devices.Topic(hub, devices.ChanStatus)
		if pk.Connect.WillTopic != topic || !pk.Connect.WillRetain {
			return s.refuseConnect(cl, refuseBadWill, packets.ErrNotAuthorized, v3NotAuthorize)
		}
		if _, err := s.cfg.Limits.Decode(topic, pk.Connect.WillPayload, now); err != nil {
			return s.refuseConnect(cl, refuseBadWill, packets.ErrNotAuthorized, v3NotAuthorize)
		}
	}
	// The generation before the lookup: a Revoke from now on makes the
	// record we are about to read stale.
	gen := s.states.gen(id)

	// The publishes' shared deadline (same parent, same bound, up to a
	// slice longer): a context and timer of its own cost each CONNECT
	// ~290 B and 4 allocations, 300,000 of them in a reconnect wave.
	ctx := s.ackCtx.ctx(now)
	cred, err := s.dir.HubCredential(ctx, hub)
	switch {
	case errors.Is(err, devices.ErrNotFound):
		return s.refuseConnect(cl, refuseUnknownHub, packets.ErrBadUsernameOrPassword, v3BadPassword)
	case err != nil:
		s.log.Debug().Err(err).Str("hub_id", id).Msg("credential lookup failed")
		return s.refuseConnect(cl, refuseStore, packets.ErrServerUnavailable, v3Unavailable)
	case cred.Disabled:
		return s.refuseConnect(cl, refuseDisabled, packets.ErrNotAuthorized, v3NotAuthorize)
	}
	ok, cached, err := s.verify.check(ctx, hub, cred.SecretHash, string(pk.Connect.Password))
	switch {
	case errors.Is(err, devices.ErrBadSecretHash):
		s.log.Error().Str("hub_id", id).Msg("stored secret hash is malformed; rotate the hub's secret")
		return s.refuseConnect(cl, refuseBadHash, packets.ErrBadUsernameOrPassword, v3BadPassword)
	case err != nil:
		return s.refuseConnect(cl, refuseBusy, packets.ErrServerUnavailable, v3Unavailable)
	case !ok:
		return s.refuseConnect(cl, refuseBadPassword, packets.ErrBadUsernameOrPassword, v3BadPassword)
	}
	// Only now, the password known good: a CONNECT with a wrong one must
	// never move a home from the node that owns it.
	var epoch devices.Epoch
	if s.cfg.Owners != nil {
		if epoch, err = s.cfg.Owners.Claim(ctx, hub); err != nil {
			s.log.Warn().Err(err).Str("hub_id", id).Msg("hub's home not claimed for this node; CONNECT refused")
			return s.refuseConnect(cl, refuseOwnership, packets.ErrServerUnavailable, v3Unavailable)
		}
	}
	switch {
	case cached:
		s.m.verifyCacheHits.Inc()
	case devices.IsFastSecretHash(cred.SecretHash):
		s.m.verifyFast.Inc()
	default:
		s.m.verifySlow.Inc()
	}

	// No delayed-will loop runs (see the package comment), and an offline
	// status should not wait anyway.
	cl.Properties.Will.WillDelayInterval = 0
	// A keepalive of 0 would let a dead link look connected for ever.
	maxKA := uint16(min(s.cfg.MaxKeepalive/time.Second, 65535))
	if cl.State.Keepalive == 0 || cl.State.Keepalive > maxKA {
		cl.State.Keepalive = maxKA
		cl.State.ServerKeepalive = true
	}
	st := s.states.getOrCreate(id, func() *hubState { return s.newHubState(now) })
	if st.gen.Load() != gen {
		return s.refuseConnect(cl, refuseRevoked, packets.ErrNotAuthorized, v3NotAuthorize)
	}
	tc.authed, tc.gen, tc.epoch = true, gen, epoch
	tc.hub = st
	st.places.Add(1)
	return nil
}

func (s *Server) newHubState(now time.Time) *hubState {
	return &hubState{
		readings: newBucket(s.cfg.ReadingsBurst, now),
		events:   newBucket(s.cfg.EventsBurst, now),
		refusals: newBucket(s.cfg.RefusalsBurst, now),
	}
}

// OnConnectAuthenticate says yes only to the clients OnConnect passed.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	tc, ok := cl.Net.Conn.(*trackedConn)
	return ok && tc.authed
}

// OnSessionEstablish runs after authentication and before mochi takes over
// the hub's previous session. The new client becomes the hub's current one.
func (h *hook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	s := h.s
	defer func() {
		if r := recover(); r != nil {
			s.poisoned("OnSessionEstablish", cl, nil, r)
		}
	}()
	st := s.states.get(cl.ID)
	tc, _ := cl.Net.Conn.(*trackedConn)
	if st == nil || tc == nil {
		return
	}
	st.mu.Lock()
	prev := st.client
	st.client = cl
	if prev == nil {
		s.held.holding(cl.ID)
	}
	st.expireAt = 0 // its session is taken over, not expired
	if !s.sessionInherited(cl.ID, &pk) {
		st.clearSubsLocked()
	}
	// Checked under st.mu, where Revoke bumps gen and reads st.client: either
	// Revoke saw this client (and kicks it), or we see the new generation.
	tc.revoked = st.gen.Load() != tc.gen
	st.mu.Unlock()
	tc.cl = cl
	if prev != nil && prev != cl {
		// The hub is online again through cl: the old connection's will
		// ("offline") is not sent when mochi closes it (OnWill).
		// Drop commands that outlived their expiry before mochi resends them.
		prev.ClearExpiredInflights(time.Now().Unix(), s.mq.Options.Capabilities.MaximumMessageExpiryInterval)
	}
}

func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	s := h.s
	defer func() {
		if r := recover(); r != nil {
			s.poisoned("OnSessionEstablished", cl, nil, r)
		}
	}()
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		tc.established = true
		tc.release() // the CONNACK is out: the next CONNECT may start
		if tc.revoked {
			// Authenticated against a record Revoke has since replaced.
			s.kick(cl, "kicked", packets.ErrAdministrativeAction)
		}
	}
	s.connected.Add(1)
	s.m.connected.Inc()
	if s.closing.Load() {
		// Authenticated while the gateway was stopping, after StopIntake
		// or Run's disconnect pass: no will (OnWill), and nothing for the
		// detectors.
		s.disconnect(cl, packets.ErrServerShuttingDown, time.Now().Add(kickWriteTimeout))
		return
	}
	var epoch devices.Epoch
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		epoch = tc.epoch
	}
	s.ingest.Connection(devices.ConnectionEvent{Hub: devices.HubID(cl.ID), Connected: true, At: s.received(time.Time{}), Remote: cl.Net.Remote, Epoch: epoch})
}

func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if cl.Net.Inline {
		return
	}
	s := h.s
	defer func() {
		if r := recover(); r != nil {
			s.poisoned("OnDisconnect", nil, nil, r) // cl is closing already
		}
	}()
	s.connected.Add(-1)
	s.m.connected.Dec()
	s.sessionEnded(cl, err, expire, false)
}

// sessionEnded records the end of cl's connection: the reason, and the
// session's expiry if cl was the hub's current client. neverEstablished says
// mochi gave up on cl after OnSessionEstablish (its CONNACK could not be
// written): no OnDisconnect comes, and mochi keeps its session even if clean.
func (s *Server) sessionEnded(cl *mqtt.Client, err error, expire, neverEstablished bool) {
	now := time.Now()
	reason := "lost"
	current := false
	if st := s.states.get(cl.ID); st != nil {
		st.mu.Lock()
		current = st.client == cl
		switch {
		case !current || cl.IsTakenOver():
			reason = "taken_over"
			current = false
		case st.kicked == cl:
			reason = st.kickReason
			st.kicked, st.kickReason = nil, ""
		case err == nil && !neverEstablished:
			reason = "clean"
		}
		switch {
		case current && expire && !neverEstablished:
			st.client = nil // mochi deletes a clean session itself
			s.held.released(cl.ID)
			st.clearSubsLocked()
		case current && expire:
			s.scheduleExpiryLocked(st, now)
		case current:
			ttl := s.mq.Options.Capabilities.MaximumSessionExpiryInterval
			if cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.SessionExpiryIntervalFlag {
				ttl = cl.Properties.Props.SessionExpiryInterval
			}
			s.scheduleExpiryLocked(st, now.Add(time.Duration(ttl)*time.Second))
		}
		st.mu.Unlock()
	}
	if neverEstablished && !current {
		return // nothing was reported for it, and a newer client owns the hub
	}
	if s.closing.Load() {
		return // the gateway is stopping, see StopIntake
	}
	s.ingest.Connection(devices.ConnectionEvent{Hub: devices.HubID(cl.ID), At: s.received(now), Remote: cl.Net.Remote, Reason: reason})
}

// ownChannel returns the channel of topic when it is one of the hub's own
// topics (dolbom/v1/{id}/{channel}), without allocating.
func ownChannel(topic, id string) (devices.Channel, bool) {
	rest, ok := strings.CutPrefix(topic, devices.TopicRoot)
	if !ok || len(rest) <= len(id)+1 || rest[:len(id)] != id || rest[len(id)] != '/' {
		return "", false
	}
	return devices.Channel(rest[len(id)+1:]), true
}

// OnACLCheck runs on every publish by a hub and every delivery to one:
// O(1), no allocation on the allowed path.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) (allowed bool) {
	defer func() {
		if r := recover(); r != nil {
			h.s.poisoned("OnACLCheck", cl, nil, r)
			allowed = false
		}
	}()
	if write {
		_, own := ownChannel(topic, cl.ID)
		// Any of its own topics: OnPublish refuses the channels a hub may
		// not publish on with a PUBACK and a reject, which a 3.1.1 hub
		// understands better than mochi's disconnect.
		if own {
			return true
		}
		h.s.m.aclDenied.WithLabelValues("publish").Inc()
		// Another hub's topic: mochi drops it (QoS 0), answers 0x87 (MQTT 5)
		// or disconnects (3.1.1); the rejects topic tells the hub why, within
		// its refusals budget.
		if st := h.s.states.get(cl.ID); st != nil {
			h.s.refused(cl, st, topic, devices.CodeNotPermitted, "hubs publish only on their own upstream topics", "")
		}
		return false
	}
	_, ok := h.s.mayReceive(cl, topic)
	return ok
}

// sendReject tells the hub why a message was refused, at QoS 0, if it
// subscribed to its rejects topic. Written by the caller (the hub's
// worker, like its PUBACK), not queued for mochi's write loop.
func (s *Server) sendReject(hub devices.HubID, topic string, code devices.ErrorCode, msg string, id devices.EventID) {
	out, err := s.prepare(hub, devices.ChanRejects, nil, 0)
	if err != nil {
		return // no session or not subscribed: nobody to tell
	}
	out.pk.Payload = devices.EncodeReject(devices.Reject{At: s.received(time.Time{}), Topic: topic, EventID: id, Code: code, Error: msg})
	s.write(out)
}

// refused counts a refused message and tells the hub why on its rejects
// topic while its refusals budget lasts. Past it the refusal is silent, and
// after MaxSilentRefusals of those in a row the hub is disconnected;
// kicked reports that.
func (s *Server) refused(cl *mqtt.Client, st *hubState, topic string, code devices.ErrorCode, msg string, id devices.EventID) (kicked bool) {
	s.m.rejected.WithLabelValues(string(code)).Inc()
	st.mu.Lock()
	tell := st.refusals.take(s.cfg.RefusalsRate, s.cfg.RefusalsBurst, time.Now())
	st.mu.Unlock()
	if tell {
		s.sendReject(devices.HubID(cl.ID), topic, code, msg, id)
		return false
	}
	s.m.rejectsSilenced.Inc()
	if int(st.silentInRow.Add(1)) < s.cfg.MaxSilentRefusals {
		return false
	}
	st.silentInRow.Store(0)
	s.m.refusalKicks.Inc()
	s.log.Debug().Str("hub_id", cl.ID).Str("code", string(code)).Msg("disconnecting hub: too many refused messages")
	s.kick(cl, "lost", packets.ErrQuotaExceeded)
	return true
}

// publish is one PUBLISH as its handling needs it: the same for mochi's path
// (OnPublish) and the handoff (handoff.go), without mochi's 800-byte packet.
type publish struct {
	cl      *mqtt.Client
	topic   string
	payload []byte
	// user are the publish's MQTT 5 user properties: mochi echoes them in
	// the PUBACK, so the handoff's PUBACK does too.
	user []packets.UserProperty
	id   uint16
	qos  byte
	// read is when the hub's read goroutine took it (the handoff; zero on
	// mochi's path through OnPublish, which then takes the time it is
	// handled: for what mochi handles on a worker, a little later than it
	// was read): its receive time, so that a message read
	// before the hub's disconnect and handled after it is not taken for a
	// sign of life (detectors' health monitor).
	read time.Time
	// mochi is a packet the worker hands to mochi (OnPacketRead); of the
	// fields above only cl and read are set then.
	mochi *packets.Packet
}

// verdict is what a handled publish gets back.
type verdict uint8

const (
	// taken: the message is the gateway's (durable where it must be);
	// acknowledged at QoS 1.
	taken verdict = iota
	// ignored: refused, and acknowledged without effect (a plain PUBACK:
	// MQTT 3.1.1, or a QoS 0 publish).
	ignored
	// refusedCode: refused with a PUBACK reason code (MQTT 5, QoS 1).
	refusedCode
	// notTaken: no acknowledgement; the hub resends it. Either we
	// disconnected the hub (journal failure, poison, refusal flood) or intake
	// has stopped.
	notTaken
)

// outcome is a verdict and, for refusedCode, the PUBACK's reason code.
type outcome struct {
	verdict verdict
	code    packets.Code
}

// forMochi returns what OnPublish returns to mochi for o: mochi then
// writes the same PUBACK the handoff writes itself (ackFor).
func (o outcome) forMochi() error {
	switch o.verdict {
	case taken:
		return nil
	case ignored:
		return packets.CodeSuccessIgnore
	case refusedCode:
		return o.code
	default:
		return packets.ErrRejectPacket
	}
}

// refusePublish refuses a message (see refused) and returns what
// acknowledges it without effect: a PUBACK reason code for MQTT 5 at QoS 1;
// otherwise a plain PUBACK (or nothing at QoS 0), because a 3.1.1 hub
// refused without an ack would resend the bad message for ever.
func (s *Server) refusePublish(p *publish, st *hubState, code devices.ErrorCode, msg string, id devices.EventID) outcome {
	if s.refused(p.cl, st, p.topic, code, msg, id) {
		return outcome{verdict: notTaken}
	}
	if p.cl.Properties.ProtocolVersion >= 5 && p.qos > 0 {
		switch code {
		case devices.CodeRateLimited:
			return outcome{refusedCode, packets.ErrQuotaExceeded}
		case devices.CodeNotPermitted:
			return outcome{refusedCode, packets.ErrNotAuthorized}
		default:
			return outcome{refusedCode, packets.ErrPayloadFormatInvalid}
		}
	}
	return outcome{verdict: ignored}
}

// failPublish handles a journal that did not take a message in time: no
// acknowledgement, and the hub is disconnected (server busy) so that it
// sends again when it reconnects.
func (s *Server) failPublish(p *publish, ch devices.Channel, err error) outcome {
	s.m.storeFailures.WithLabelValues(string(ch)).Inc()
	s.log.Debug().Err(err).Str("hub_id", p.cl.ID).Str("channel", string(ch)).Msg("journal did not take message")
	s.kick(p.cl, "lost", packets.ErrServerBusy)
	return outcome{verdict: notTaken}
}

// OnPublish runs before the PUBACK for what the handoff leaves to mochi's
// processPublish (another hub's topic, a topic alias,
// on the hub's worker; QoS 2 and what comes while intake stops, on its read
// goroutine): what it returns nil for is acknowledged, so it returns nil
// only once the journal has the message.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	s := h.s
	s.publishing.Add(1)
	defer s.publishing.Add(-1)
	p := publish{cl: cl, topic: pk.TopicName, payload: pk.Payload, qos: pk.FixedHeader.Qos}
	out := s.takePublish(&p)
	// Nothing is retained, the hubs' retained status included: nobody can
	// read a retained message here (retainedDropper), and mochi storing
	// each status only for the dropper to delete it built and trimmed the
	// status topic's path in its index every time (~3.5 KB per status and
	// per will since hubs' subscriptions no longer keep that path;
	// docs/performance.md, "Per-message costs").
	pk.FixedHeader.Retain = false
	return pk, out.forMochi()
}

// takePublish handles one publish of a hub, on either path: refusals, rate
// limits, decoding, the journal, and the hand-on to the ingester. The
// caller has counted it in s.publishing, so that StopIntake either sees
// this publish under way or this publish sees intake stopped.
func (s *Server) takePublish(p *publish) (out outcome) {
	cl := p.cl
	defer func() {
		if r := recover(); r != nil {
			// No PUBACK: the hub is disconnected, and its resend of the same
			// payload is refused at once (see isPoison) rather than handled.
			s.poisoned("OnPublish", cl, p, r)
			out = outcome{verdict: notTaken}
		}
	}()
	if s.closing.Load() {
		s.m.notTaken.Inc()
		if p.qos == 0 {
			if ch, _ := ownChannel(p.topic, cl.ID); ch == devices.ChanEvents {
				// Nothing resends a QoS 0 event (emergencies must use QoS 1).
				s.m.eventsDropped.Inc()
				s.log.Warn().Str("hub_id", cl.ID).Msg("QoS 0 event dropped: the gateway is stopping")
			}
		}
		return outcome{verdict: notTaken} // the hub resends it later
	}
	start := p.read // wall: the bucket and the journal's latency
	if start.IsZero() {
		start = time.Now()
	}
	received := s.received(start)

	st := hubStateOf(cl)
	if st == nil {
		st = s.states.get(cl.ID)
	}
	if st == nil { // cannot happen: OnConnect created it
		return outcome{verdict: notTaken}
	}
	ch, own := ownChannel(p.topic, cl.ID) // OnACLCheck let only own topics through
	if c := s.m.received[ch]; c != nil {
		c.Inc()
	}
	if st.isPoison(p.payload) {
		var id devices.EventID
		if ch == devices.ChanEvents {
			id = devices.PeekEventID(p.payload)
		}
		return s.refusePublish(p, st, devices.CodePoison, "the gateway failed handling this message before; it is kept for an engineer: do not resend it", id)
	}
	if ch != devices.ChanEvents {
		// The token is taken before decoding: a hub looping on garbage pays
		// its decoding out of its own budget. Events are limited once
		// decoded, because an emergency must never be refused.
		st.mu.Lock()
		allowed := st.readings.take(s.cfg.ReadingsRate, s.cfg.ReadingsBurst, start)
		st.mu.Unlock()
		if !allowed {
			return s.refusePublish(p, st, devices.CodeRateLimited,
				fmt.Sprintf("more than %g messages per second besides events", s.cfg.ReadingsRate), "")
		}
	}
	var msg devices.Message
	var err error
	switch {
	case own && s.shared:
		// A readings batch from the pool, held by this call until the
		// ports have taken it (Released below).
		msg, err = s.cfg.Limits.DecodeShared(devices.HubID(cl.ID), ch, p.payload, received)
	case own:
		// The connection's id, not a piece of the topic: see DecodeFrom.
		msg, err = s.cfg.Limits.DecodeFrom(devices.HubID(cl.ID), ch, p.payload, received)
	default:
		msg, err = s.cfg.Limits.Decode(p.topic, p.payload, received)
	}
	if err != nil {
		var id devices.EventID
		if ch == devices.ChanEvents {
			id = devices.PeekEventID(p.payload)
		}
		return s.refusePublish(p, st, devices.CodeOf(err), err.Error(), id)
	}

	switch msg.Channel {
	case devices.ChanEvents:
		return s.publishEvent(p, st, &msg, start)
	case devices.ChanReadings, devices.ChanAccel:
		ctx := s.ackCtx.ctx(time.Now())
		if msg.Readings != nil {
			err = s.journal.AppendReadings(ctx, msg.Readings)
		} else {
			err = s.journal.AppendAccel(ctx, msg.Accel)
		}
		s.m.journalLatencyBy[msg.Channel].Observe(time.Since(start).Seconds())
		if err != nil {
			if msg.Readings != nil {
				msg.Readings.Release() // not taken: nobody else holds it
			}
			if p.qos > 0 {
				return s.failPublish(p, msg.Channel, err)
			}
			s.m.readingsDropped.Inc()
			s.m.storeFailures.WithLabelValues(string(msg.Channel)).Inc()
			s.sendReject(msg.Hub, p.topic, devices.CodeUnavailable, "the gateway could not store it in time", "")
			return outcome{verdict: ignored}
		}
	}
	accepted(st)
	s.ingest.Ingest(&msg)
	if msg.Readings != nil {
		msg.Readings.Release() // the journal and the ingester retained what they keep
	}
	return outcome{verdict: taken}
}

// hubStateOf returns the state OnConnect attached to cl's connection (the
// one s.states holds for the hub: states are never replaced), or nil. Per
// message it spares a lookup in the shared map, whose read lock and
// cache-cold key compare cost a few µs a message at 50,000 homes
// (docs/performance.md, "Per-message costs").
func hubStateOf(cl *mqtt.Client) *hubState {
	if tc, ok := cl.Net.Conn.(*trackedConn); ok {
		return tc.hub
	}
	return nil
}

// accepted ends a run of silent refusals.
func accepted(st *hubState) {
	if st.silentInRow.Load() != 0 {
		st.silentInRow.Store(0)
	}
}

func (s *Server) publishEvent(p *publish, st *hubState, msg *devices.Message, start time.Time) outcome {
	e := msg.Event
	if c := s.m.eventsReceived[e.Kind]; c != nil {
		c.Inc()
	}
	emergency := e.Kind.IsEmergency()
	st.mu.Lock()
	allowed := st.events.take(s.cfg.EventsRate, s.cfg.EventsBurst, start)
	st.mu.Unlock()
	if !allowed {
		if !emergency {
			return s.refusePublish(p, st, devices.CodeRateLimited,
				fmt.Sprintf("more than %g events per second", s.cfg.EventsRate), e.ID)
		}
		// Never refuse an emergency: hold its PUBACK until the hub's bucket
		// has a token, so a looping hub slows only itself down.
		s.m.acksHeld.Inc()
		if err := s.waitToken(st); err != nil {
			return s.eventNotTaken(p, e, err)
		}
	}
	accepted(st)
	if e.ClockError != "" {
		// The decoder took an emergency with an impossible timestamp at
		// our receive time rather than refuse it; the hub must fix its clock.
		s.sendReject(msg.Hub, p.topic, e.ClockError, "event timestamp ignored; taken at the gateway's receive time", e.ID)
	}
	if emergency && p.qos == 0 {
		s.m.emergencyQoS0.Inc()
		s.sendReject(msg.Hub, p.topic, devices.CodeQoS, "emergency events must be sent at QoS 1; accepted this time", e.ID)
	}

	if tc, ok := p.cl.Net.Conn.(*trackedConn); ok {
		e.Epoch = tc.epoch // fences what is written because of it
	}
	// Bounded by AckTimeout (plus at most a deadline slice, see
	// ackDeadlines) and by shutdown, without a context per message.
	fresh, err := s.journal.AppendEvent(s.ackCtx.ctx(time.Now()), e)
	s.m.journalLatencyBy[devices.ChanEvents].Observe(time.Since(start).Seconds())
	if errors.Is(err, devices.ErrNotOwner) {
		// The home moved to another node while this session lasted (the
		// hub reconnected there, or its node was paused past its lease):
		// not journaled here, so not acknowledged; the session ends
		// without its will, and the hub sends the event again to the
		// node that owns its home now.
		s.release(p.cl)
		return outcome{verdict: notTaken}
	}
	if err != nil {
		return s.eventNotTaken(p, e, err)
	}
	// A redelivery is handed on too, marked: if the gateway crashed after
	// its commit and before the detectors applied it, the detectors apply
	// it now; otherwise they know it by its journal position and skip it.
	e.Replayed = !fresh
	s.ingest.Ingest(msg)
	return outcome{verdict: taken}
}

// eventNotTaken handles a decoded event that will be neither stored nor
// handed on. At QoS 1 the hub is not acknowledged and sends it again; at
// QoS 0 nobody will, so it is counted as dropped, whatever the cause
// (journal error, timeout, or shutdown while its PUBACK was held).
func (s *Server) eventNotTaken(p *publish, e *devices.Event, err error) outcome {
	if p.qos == 0 {
		s.m.eventsDropped.Inc()
		s.log.Error().Err(err).Str("hub_id", p.cl.ID).Str("event_id", string(e.ID)).
			Str("kind", string(e.Kind)).Msg("qos 0 event lost: not made durable")
	}
	return s.failPublish(p, devices.ChanEvents, err)
}

// waitToken blocks until the hub's event bucket yields a token.
func (s *Server) waitToken(st *hubState) error {
	for {
		now := time.Now()
		st.mu.Lock()
		ok := st.events.take(s.cfg.EventsRate, s.cfg.EventsBurst, now)
		wait := st.events.wait(s.cfg.EventsRate, s.cfg.EventsBurst, now)
		st.mu.Unlock()
		if ok {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.hookCtx.Done():
			t.Stop()
			return fmt.Errorf("broker: waiting for rate token: %w", s.hookCtx.Err())
		}
	}
}
