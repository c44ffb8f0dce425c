package broker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/devices"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The broker keeps hubs' subscriptions itself, in hubState, instead of in
// mochi's topic index.
//
// Why: a hub may subscribe to two topics only, its own cmd and rejects
// (mayReceive), yet mochi kept them as for any client: a Subscription
// struct in the client's map and a path of particles in the topic index,
// ~3.6 KB of pointer-dense heap per hub that every collection marks
// (docs/performance.md, "Issue 14: memory per hub"). A few bytes per hub
// say the same. So SUBSCRIBE and UNSUBSCRIBE are answered here, deciding
// each filter as mochi's processSubscribe did with our ACL (pinned by
// subscriptions_test.go), and what the gateway sends a hub (commands,
// rejects) is written to it here, as mochi's publishToClient did: the same
// QoS, packet ids and inflight entries, so that mochi still resends a QoS 1
// command on reconnect and completes it at the hub's PUBACK.
//
// Retained messages: a SUBSCRIBE gets none, as before: the gateway never
// publishes cmd or rejects retained, and the only retained messages hubs
// publish (their status) are dropped at once (retainedDropper).

// downstreamSub is a hub's subscription to one of its downstream channels.
type downstreamSub struct {
	on  bool
	qos byte // granted
	// id is the MQTT 5 subscription identifier (0: none), which mochi puts
	// on every message delivered through the subscription: at most
	// 268,435,455 (28 bits, SubscribeValidate).
	id uint32
}

// hubSubs are a hub session's subscriptions, packed in 8 bytes so that
// hubState stays in its size class (TestHubStateSize): per channel (cmd in
// the low half, rejects in the high one) a bit for subscribed, one for the
// granted QoS (at most 1: Capabilities.MaximumQos) and 28 for the id. They
// belong to the session, not to a connection: kept across reconnects and
// takeovers while the session lasts (OnSessionEstablish, sessionEnded,
// sweepExpired clear them where mochi ends the session). Guarded by
// hubState.mu.
type hubSubs uint64

const (
	subOn   = 1 << 0
	subQoS1 = 1 << 1
	subID   = 2 // the id's shift
)

// subShift returns where channel ch's half is, false for a channel hubs may
// not subscribe to.
func subShift(ch devices.Channel) (uint, bool) {
	switch ch {
	case devices.ChanCmd:
		return 0, true
	case devices.ChanRejects:
		return 32, true
	}
	return 0, false
}

// of returns the subscription to channel ch.
func (h hubSubs) of(ch devices.Channel) downstreamSub {
	sh, ok := subShift(ch)
	if !ok {
		return downstreamSub{}
	}
	half := uint32(h >> sh)
	return downstreamSub{on: half&subOn != 0, qos: byte(half&subQoS1) >> 1, id: half >> subID}
}

// set records the subscription to channel ch; nothing for a channel hubs
// may not subscribe to.
func (h *hubSubs) set(ch devices.Channel, sub downstreamSub) {
	sh, ok := subShift(ch)
	if !ok {
		return
	}
	var half uint32
	if sub.on {
		half = subOn | uint32(min(sub.qos, 1))<<1 | sub.id<<subID
	}
	*h = *h&^(hubSubs(0xFFFFFFFF)<<sh) | hubSubs(half)<<sh
}

// mayReceive is the ACL of what a hub may receive: its own downstream
// channels (exact topics, so no wildcard filter passes).
func (s *Server) mayReceive(cl *mqtt.Client, topic string) (devices.Channel, bool) {
	if ch, own := ownChannel(topic, cl.ID); own && ch.Downstream() {
		return ch, true
	}
	s.m.aclDenied.WithLabelValues("subscribe").Inc()
	return "", false
}

// subscription answers a hub's SUBSCRIBE or UNSUBSCRIBE, and ends the
// connection on a malformed one as mochi's read loop would.
func (s *Server) subscription(cl *mqtt.Client, pk *packets.Packet) {
	s.packetFailed(cl, pk.FixedHeader.Type, s.answer(cl, pk))
}

// answer is mochi's processSubscribe or processUnsubscribe for a hub (see
// the file comment): a code per filter in a SUBACK or UNSUBACK.
func (s *Server) answer(cl *mqtt.Client, pk *packets.Packet) error {
	sub := pk.FixedHeader.Type == packets.Subscribe
	code, ackType := pk.UnsubscribeValidate(), byte(packets.Unsuback)
	if sub {
		code, ackType = pk.SubscribeValidate(), packets.Suback
	}
	if code != packets.CodeSuccess {
		return code
	}
	// A packet id in flight refuses every filter (0x91), mapped to 0x80 for
	// 3.1.1 by neither mochi nor us.
	if _, ok := cl.State.Inflight.Get(pk.PacketID); ok {
		code = packets.ErrPacketIdentifierInUse
	}
	codes := make([]byte, len(pk.Filters))
	st := s.current(cl)
	if st == nil {
		return nil
	}
	for i, f := range pk.Filters {
		switch {
		case code != packets.CodeSuccess:
			codes[i] = code.Code
		case sub:
			codes[i] = s.subscribeFilter(cl, st, f)
		default:
			codes[i] = unsubscribeFilter(cl, st, f)
		}
	}
	st.mu.Unlock()
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: ackType},
		PacketID:    pk.PacketID,
		ReasonCodes: codes,
		Properties:  packets.Properties{User: pk.Properties.User},
	}
	if code.Code >= packets.ErrUnspecifiedError.Code {
		ack.Properties.ReasonString = code.Reason
	}
	return cl.WritePacket(ack)
}

// subscribeFilter records one filter of a SUBSCRIBE (the caller holds
// st.mu) and returns its code: the granted QoS, or why not.
func (s *Server) subscribeFilter(cl *mqtt.Client, st *hubState, f packets.Subscription) byte {
	var code byte
	switch {
	case !mqtt.IsValidFilter(f.Filter, false):
		code = packets.ErrTopicFilterInvalid.Code
	case f.NoLocal && mqtt.IsSharedFilter(f.Filter):
		code = packets.ErrProtocolViolationInvalidSharedNoLocal.Code
	default:
		ch, ok := s.mayReceive(cl, f.Filter)
		if !ok {
			code = packets.ErrNotAuthorized.Code
			break
		}
		code = min(f.Qos, s.mq.Options.Capabilities.MaximumQos)
		st.subs.set(ch, downstreamSub{on: true, qos: code, id: uint32(f.Identifier)})
	}
	if code > packets.CodeGrantedQos2.Code && cl.Properties.ProtocolVersion < 5 {
		code = packets.ErrUnspecifiedError.Code // 3.1.1 has one failure code
	}
	return code
}

// unsubscribeFilter drops one filter of an UNSUBSCRIBE (the caller holds
// st.mu): 0x00 for a subscription the session had, 0x11 for one it had
// not.
func unsubscribeFilter(cl *mqtt.Client, st *hubState, f packets.Subscription) byte {
	if ch, own := ownChannel(f.Filter, cl.ID); own && st.subs.of(ch).on {
		st.subs.set(ch, downstreamSub{})
		return packets.CodeSuccess.Code
	}
	return packets.CodeNoSubscriptionExisted.Code
}

// current returns the hub's state, locked, if cl is its current client;
// otherwise nil: a SUBSCRIBE of a client whose session was taken over or
// ended would change a session nobody holds (mochi then subscribed a
// client no longer in its map).
func (s *Server) current(cl *mqtt.Client) *hubState {
	st := s.stateOf(cl)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	if st.client != cl {
		st.mu.Unlock()
		return nil
	}
	return st
}

// stateOf returns the hub's state of cl.
func (s *Server) stateOf(cl *mqtt.Client) *hubState {
	if st := hubStateOf(cl); st != nil {
		return st
	}
	return s.states.get(cl.ID)
}

// clearSubsLocked drops the session's subscriptions (the caller holds
// st.mu): mochi ended or did not inherit the session.
func (st *hubState) clearSubsLocked() { st.subs = 0 }

// sessionInherited says whether mochi's inheritClientSession, which runs
// right after OnSessionEstablish, will hand the hub's previous session to a
// client connecting with pk: there is one, and neither this CONNECT nor the
// previous 3.1.1 one asked for a clean session.
func (s *Server) sessionInherited(id string, pk *packets.Packet) bool {
	prev, ok := s.mq.Clients.Get(id)
	return ok && !pk.Connect.Clean && !(prev.Properties.Clean && prev.Properties.ProtocolVersion < 5)
}

// outbound is a message for a hub, prepared as mochi's publishToClient
// prepared it.
type outbound struct {
	cl  *mqtt.Client
	pk  packets.Packet
	now bool // write it now: the hub is connected and its receive maximum allows
}

// prepare makes the message for the hub's channel ch at QoS qos, or says
// why there is none: the hub has no session (ErrNoSession) or is not
// subscribed (ErrNotSubscribed), or too many QoS 1 messages wait for its
// PUBACK (ErrCommandQueueFull). A QoS 1 message gets its packet id and
// its place in the session's inflight, where mochi resends it on reconnect
// and deletes it at the PUBACK.
func (s *Server) prepare(hub devices.HubID, ch devices.Channel, payload []byte, qos byte) (outbound, error) {
	cl, ok := s.mq.Clients.Get(string(hub))
	if !ok || cl.Net.Inline {
		return outbound{}, ErrNoSession
	}
	var sub downstreamSub
	if st := s.stateOf(cl); st != nil {
		st.mu.Lock()
		sub = st.subs.of(ch)
		st.mu.Unlock()
	}
	if !sub.on {
		return outbound{}, ErrNotSubscribed
	}
	caps := s.mq.Options.Capabilities
	created := time.Now().Unix()
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: min(qos, sub.qos)},
		TopicName:   devices.Topic(hub, ch),
		Payload:     payload,
		Origin:      mqtt.InlineClientId,
		Created:     created,
	}
	// The session's expiry: WritePacket turns it into the MQTT 5 message
	// expiry interval, and an expired command is not resent.
	if caps.MaximumMessageExpiryInterval > 0 {
		pk.Expiry = created + caps.MaximumMessageExpiryInterval
	}
	if sub.id > 0 {
		pk.Properties.SubscriptionIdentifier = []int{int(sub.id)}
	}
	out := outbound{cl: cl, pk: pk, now: !cl.Closed() && cl.Net.Conn != nil}
	if pk.FixedHeader.Qos == 0 {
		useAlias(cl, &out.pk)
		return out, nil
	}
	inflight := cl.State.Inflight.Len()
	if inflight >= int(caps.MaximumInflight) {
		return outbound{}, ErrCommandQueueFull
	}
	id, err := cl.NextPacketID()
	if err != nil {
		return outbound{}, ErrCommandQueueFull
	}
	out.pk.PacketID = uint16(id)
	// The hub's receive maximum (MQTT 5): past it mochi parks the message
	// (expiry -1) and its read loop sends it once a PUBACK frees a place.
	// mochi's remaining quota is not exported; the messages in flight, all
	// sent or parked, count the same.
	if rm := int(cl.Properties.Props.ReceiveMaximum); rm > 0 && inflight >= rm {
		out.pk.Expiry = -1
		out.now = false
	}
	useAlias(cl, &out.pk)
	if cl.State.Inflight.Set(out.pk) {
		atomic.AddInt64(&s.mq.Info.Inflight, 1) // mochi's count, which its PUBACK and expiry take back
	}
	cl.State.Inflight.DecreaseSendQuota()
	return out, nil
}

// useAlias gives pk the hub's outbound topic alias, if the hub (MQTT 5)
// allows aliases, as mochi does; only once the message is going out, so
// that a refused one does not leave the hub an alias it never learnt.
func useAlias(cl *mqtt.Client, pk *packets.Packet) {
	if cl.Properties.Props.TopicAliasMaximum == 0 {
		return
	}
	alias, known := cl.State.TopicAliases.Outbound.Set(pk.TopicName)
	if alias > 0 {
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = alias, true
		if known {
			pk.TopicName = ""
		}
	}
}

// write sends a prepared message, if it is to be sent now. A QoS 1
// message that cannot be written stays in flight: mochi resends it when
// the hub comes back.
func (s *Server) write(out outbound) {
	if !out.now {
		return
	}
	if err := out.cl.WritePacket(out.pk); err != nil {
		s.log.Debug().Err(err).Str("hub_id", out.cl.ID).Str("topic", out.pk.TopicName).Msg("write to hub")
	}
}

// writeBounded is write bounded by ctx: a hub that does not read (a full
// TCP window) holds the write until its connection's deadline, and the
// caller must not wait that long. The message is in flight meanwhile.
func (s *Server) writeBounded(ctx context.Context, out outbound) {
	if !out.now {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.write(out)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
