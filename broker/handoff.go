package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/devices"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The handoff takes a hub's PUBLISH off mochi's read goroutine.
//
// Why: mochi's own frames (its 800-byte packets.Packet passed by value
// through Read, receivePacket, processPacket and processPublish) pass 16 KiB
// before Hooks.OnPublish is reached, so every publish grew each hub's read
// goroutine from 16 to 32 KiB: ~11 GB of stacks at 300,000 hubs. OnPacketRead
// is reached at about 11 KiB. There the hook queues the publish for a worker
// and hands mochi a PUBACK with packet id 0 instead, which mochi processes as
// a no-op (processPuback returns when the id is not inflight, and mochi never
// gives id 0 to its own inflights: NextPacketID wraps to 1; both pinned by
// TestNoopPacketIsNoop). Returning ErrRejectPacket instead would end the
// connection.
//
// The worker does what OnPublish does (takePublish) and writes the PUBACK
// itself, a run's together (ackBatch). What processPublish did besides calling
// OnPublish is not needed for these topics: nobody subscribes to upstream
// topics (hubs may subscribe only to their cmd and rejects), nothing but the
// status is retained (mochi handles it, on the worker: see OnPacketRead),
// and QoS 2 stays on mochi's path. One thing it did is
// wrong and left out: mochi keeps inbound and outbound packet ids in one
// inflight map, so a hub's publish with id N deleted the gateway's command
// in flight with id N (TestHubPublishKeepsCommandInflight).
//
// Order: each hub has two lanes, events and the rest, each a bounded FIFO
// handled by one worker at a time, so a hub's messages on one topic are
// taken and acknowledged in the order they arrived. Across the two lanes an
// event may be acknowledged before readings sent earlier: MQTT orders
// messages per topic (3.1.1 and 5.0, section 4.6, "Ordered Topic"); the rule
// that PUBACKs follow the order of their PUBLISHes ([MQTT-4.6.0-2]) binds
// the Client. Hubs match PUBACKs by packet id (docs/protocol.md, 7.3).
//
// Workers follow demand: a lane with work gets a parked worker, or a new
// one when none is parked, and a worker parked for workerIdle exits. An
// events lane always gets one at once: a durable append blocks its worker
// for an fsync, and the journal's group commit needs many appenders at a
// time. The other lane (readings, accel, heartbeat, cmd/ack) only queues
// for the next group write, blocking only when the journal pushes back, so
// at most maxReadingWorkers run at once and further lanes wait their turn
// in arrival order: a journal that pushes back on readings must not turn
// every hub into a parked goroutine.

// laneCap bounds each lane of a hub: the receive maximum the broker
// announces to MQTT 5 hubs (caps.ReceiveMaximum), so a hub within it never
// waits. Past it the hub's read goroutine waits for room, as it waited in
// OnPublish before: TCP pushes back on the hub.
const laneCap = 32

// maxReadingWorkers bounds the workers on lanes other than events.
const maxReadingWorkers = 256

// readingTurn is how many messages a worker takes from one readings lane
// before letting a waiting lane go first.
const readingTurn = 32

// workerIdle is how long a worker stays parked before it exits.
const workerIdle = 5 * time.Second

// spaceRecheck bounds a wait for room in a full lane, after which the read
// goroutine looks again whether its connection was closed or intake stopped.
const spaceRecheck = 250 * time.Millisecond

// lane is a FIFO of one hub's publishes handled by one worker at a time.
type lane struct {
	mu   sync.Mutex
	ring []publish // nil while empty; grows up to laneCap
	// small is ring's array while the ring holds two: borrowed from
	// smallRings while the lane has work. A hub publishes about once a
	// minute, so its lane is almost always empty: 300,000 idle rings would
	// be ~50 MB kept and scanned for nothing, and one allocated per message
	// would be garbage per message.
	small *[2]publish
	// full is ring's array once more than two wait, borrowed from
	// fullRings in the same way: a hub with a window of messages in flight
	// (a flood, a store-and-forward backlog) grew its ring 2 -> 4 -> 8 -> 16
	// and dropped it on every run, ~3 KB of garbage per 16 messages.
	full    *[laneCap]publish
	head, n int
	space   chan struct{} // closed when a job leaves a full lane; nil if nobody waits
	next    *lane         // in the readings wait list
	running bool          // a worker owns the lane, or it waits for one
	events  bool
}

var (
	smallRings = sync.Pool{New: func() any { return new([2]publish) }}
	fullRings  = sync.Pool{New: func() any { return new([laneCap]publish) }}
)

func (l *lane) push(p *publish) {
	switch {
	case l.ring == nil:
		l.small = smallRings.Get().(*[2]publish)
		l.ring, l.head = l.small[:], 0
	case l.n == len(l.ring):
		// Only the small ring fills: the full one holds laneCap, and
		// enqueue waits before pushing into a full lane.
		full := fullRings.Get().(*[laneCap]publish)
		for i := range l.n {
			full[i] = l.ring[(l.head+i)%len(l.ring)]
		}
		l.release()
		l.full, l.ring, l.head = full, full[:], 0
	}
	l.ring[(l.head+l.n)%len(l.ring)] = *p
	l.n++
}

// release gives the ring up (the lane is empty, or push moved it).
func (l *lane) release() {
	if l.small != nil {
		*l.small = [2]publish{}
		smallRings.Put(l.small)
		l.small = nil
	}
	if l.full != nil {
		// pop cleared every slot it took, and the lane is empty or its
		// publishes were moved: nothing is left to clear.
		fullRings.Put(l.full)
		l.full = nil
	}
	l.ring = nil
}

func (l *lane) pop() publish {
	p := l.ring[l.head]
	l.ring[l.head] = publish{} // drop the payload for the collector
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	return p
}

// hubLanes are a hub's two lanes, made at its first handed-off publish.
type hubLanes struct {
	events, rest lane
}

// laneFor returns the hub's lane for a channel the workers take
// themselves, nil for the others: downstream and unknown channels, which
// mochi handles (on the rest lane: see mochiLane). The status is the
// workers' too since nothing is retained (OnPublish): mochi's handling of
// it added a copy of the packet and the client's inflight map (~1.9 KB per
// connect; docs/performance.md, "Per-message costs").
func (st *hubState) laneFor(ch devices.Channel) *lane {
	switch ch {
	case devices.ChanEvents:
		return &st.hubLanes().events
	case devices.ChanReadings, devices.ChanAccel, devices.ChanHeartbeat, devices.ChanCmdAck, devices.ChanStatus:
		return &st.hubLanes().rest
	}
	return nil
}

// mochiLane is the lane of the packets mochi handles on a worker, and of
// SUBSCRIBE and UNSUBSCRIBE: the rest lane, so that a SUBSCRIBE and the
// publishes after it keep their order.
func (st *hubState) mochiLane() *lane { return &st.hubLanes().rest }

func (st *hubState) hubLanes() *hubLanes {
	ls := st.lanes.Load()
	if ls == nil {
		fresh := &hubLanes{}
		fresh.events.events = true
		if st.lanes.CompareAndSwap(nil, fresh) {
			ls = fresh
		} else {
			ls = st.lanes.Load()
		}
	}
	return ls
}

// handoff is the pool of workers.
type handoff struct {
	s *Server
	// work is unbuffered: a send succeeds only when a worker is parked on it.
	work chan *lane
	// done ends parked workers when Run returns.
	done chan struct{}

	// maxReading is maxReadingWorkers (lowered by tests).
	maxReading int

	mu             sync.Mutex
	readingWorkers int
	waitHead       *lane
	waitTail       *lane

	workers atomic.Int64
}

func newHandoff(s *Server) *handoff {
	return &handoff{s: s, work: make(chan *lane), done: make(chan struct{}), maxReading: maxReadingWorkers}
}

// noopPacket is what mochi gets instead of a handed-off PUBLISH.
var noopPacket = packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}}

// OnPacketRead hands a hub's PUBLISH, SUBSCRIBE and UNSUBSCRIBE to the
// workers. It runs on the read goroutine, deep in mochi's frames: it does
// the least it can (the topic and payload are mochi's fresh allocations per
// packet, so nothing is copied) and leaves everything else to mochi.
//
// A publish on one of the hub's own upstream channels the workers take
// themselves (takePublish), and a SUBSCRIBE or UNSUBSCRIBE they answer
// themselves (Server.subscription). Everything else they hand to mochi
// through Server.InjectPacket, which processes a packet exactly as the read
// loop would have (processPublish for a refused channel, a topic alias):
// those paths write their PUBACK (and mochi's SUBACK did) from mochi's
// frames too and grew the read goroutine to 32 KiB once per connection,
// and stacks are not shrunk (memlimit.KeepStacks), so that was 16 KiB per
// hub for good (BenchmarkHubStacks). PINGREQ, PUBACK
// and DISCONNECT stay on the read goroutine: their paths stay under 16 KiB.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (out packets.Packet, err error) {
	s := h.s
	defer func() {
		// mochi recovers nothing: a panic here would end the process.
		if r := recover(); r != nil {
			s.poisoned("OnPacketRead", cl, nil, r)
			out, err = pk, packets.ErrRejectPacket
		}
	}()
	if cl.Net.Inline {
		return pk, nil
	}
	switch pk.FixedHeader.Type {
	case packets.Publish:
		if s.direct || pk.FixedHeader.Qos > 1 { // hubs publish at most QoS 1; QoS 2's exchange stays with mochi
			return pk, nil
		}
	case packets.Subscribe, packets.Unsubscribe:
	default:
		return pk, nil
	}
	tc, _ := cl.Net.Conn.(*trackedConn)
	// Only an established session's packets (mochi reads CONNECT through
	// here too); tc.hub is set by then (OnConnect).
	if s.direct || tc == nil || !tc.established || tc.hub == nil || s.closing.Load() {
		if pk.FixedHeader.Type != packets.Publish {
			// Subscriptions are the broker's, never mochi's (subscriptions.go).
			s.subscription(cl, &pk)
			return noopPacket, nil
		}
		return pk, nil
	}
	p := publish{cl: cl, read: time.Now()}
	var l *lane
	ch, own := devices.Channel(""), false
	if pk.FixedHeader.Type == packets.Publish && !pk.Properties.TopicAliasFlag &&
		pk.PublishValidate(s.mq.Options.Capabilities.TopicAliasMaximum) == packets.CodeSuccess {
		if ch, own = ownChannel(pk.TopicName, cl.ID); own {
			l = tc.hub.laneFor(ch)
		}
	}
	if l != nil {
		p.topic, p.payload, p.user, p.id, p.qos = pk.TopicName, pk.Payload, pk.Properties.User, pk.PacketID, pk.FixedHeader.Qos
	} else {
		l, p.mochi = tc.hub.mochiLane(), mochiPackets.Get().(*packets.Packet)
		*p.mochi = pk // a copy: &pk would move every packet read to the heap
	}
	switch s.pool.enqueue(l, &p) {
	case enqueued:
		return noopPacket, nil
	case connClosed:
		if own && ch == devices.ChanEvents && p.qos == 0 {
			// Nothing resends a QoS 0 event (emergencies must use QoS 1).
			s.m.eventsDropped.Inc()
			s.log.Warn().Str("hub_id", cl.ID).Msg("QoS 0 event dropped: its connection closed while its lane was full")
		}
		return pk, packets.ErrRejectPacket // the connection is gone: mochi ends its loop
	default: // intake stopped while waiting: mochi's path refuses it (OnPublish)
		return pk, nil
	}
}

// mochiPackets recycles the copies of the packets the workers answer
// whole (a hub's SUBSCRIBE on every connect, ~850 B: the largest of what
// our hooks allocated per CONNECT; docs/performance.md, "Per-message
// costs") or hand to mochi. A copy is the worker's alone from OnPacketRead
// on: Server.subscription reads it only while it runs, and mochi gets it
// by value (InjectPacket), so once those return nothing refers to it. One whose handling panicked is not put back (the poison
// report may hold it): the collector takes it.
var mochiPackets = sync.Pool{New: func() any { return new(packets.Packet) }}

// putMochiPacket returns a handled copy, emptied so that the pool keeps no
// payload, topic or filters alive.
func putMochiPacket(pk *packets.Packet) {
	*pk = packets.Packet{}
	mochiPackets.Put(pk)
}

type enqueueResult uint8

const (
	enqueued enqueueResult = iota
	connClosed
	intakeStopped
)

// enqueue adds p to its lane, waiting while the lane is full until there is
// room, the connection is closed or intake stops, and gets the lane a worker
// if it has none.
func (h *handoff) enqueue(l *lane, p *publish) enqueueResult {
	s := h.s
	l.mu.Lock()
	for l.n >= laneCap {
		if l.space == nil {
			l.space = make(chan struct{})
		}
		space := l.space
		l.mu.Unlock()
		s.m.handoffWaits.Inc()
		t := time.NewTimer(spaceRecheck)
		select {
		case <-space:
		case <-t.C:
		}
		t.Stop()
		switch {
		case p.cl.Closed():
			return connClosed
		case s.closing.Load():
			return intakeStopped
		}
		l.mu.Lock()
	}
	// Counted before it is queued: StopIntake waits for queued publishes too.
	s.publishing.Add(1)
	l.push(p)
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		h.schedule(l)
	}
	return enqueued
}

// schedule gets l a worker: at once for events, within maxReadingWorkers
// for the rest (otherwise l waits in the list for the next free one).
func (h *handoff) schedule(l *lane) {
	if !l.events {
		h.mu.Lock()
		if h.readingWorkers >= h.maxReading {
			h.pushWaitLocked(l)
			h.mu.Unlock()
			return
		}
		h.readingWorkers++
		h.mu.Unlock()
	}
	select {
	case h.work <- l:
	default:
		go h.worker(l)
	}
}

func (h *handoff) pushWaitLocked(l *lane) {
	l.next = nil
	if h.waitTail == nil {
		h.waitHead = l
	} else {
		h.waitTail.next = l
	}
	h.waitTail = l
}

func (h *handoff) popWaitLocked() *lane {
	l := h.waitHead
	if l != nil {
		h.waitHead = l.next
		if h.waitHead == nil {
			h.waitTail = nil
		}
		l.next = nil
	}
	return l
}

// worker drains lanes until none comes within workerIdle.
func (h *handoff) worker(l *lane) {
	h.s.m.handoffWorkers.Set(float64(h.workers.Add(1)))
	defer func() { h.s.m.handoffWorkers.Set(float64(h.workers.Add(-1))) }()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	acks := &ackBatch{s: h.s}
	for {
		for l != nil {
			l = h.drain(l, acks)
		}
		idle.Reset(workerIdle)
		select {
		case l = <-h.work:
			idle.Stop() // Go 1.23 timers: no stale tick survives Stop and Reset
		case <-idle.C:
			return
		case <-h.done:
			return
		}
	}
}

// drain handles l's publishes in order until it is empty (events), or
// empty or its turn is over while other lanes wait (the rest), and returns
// the next lane for this worker, if any. The PUBACKs of a run go out
// together (ackBatch), always before l is let go.
func (h *handoff) drain(l *lane, acks *ackBatch) *lane {
	for taken := 1; ; taken++ {
		l.mu.Lock()
		if l.n == 0 {
			if acks.n > 0 {
				// Before the lane is let go: a worker taking it next
				// must not write a later PUBACK first.
				l.mu.Unlock()
				acks.flush()
				taken--
				continue
			}
			l.running = false
			l.release()
			l.mu.Unlock()
			break
		}
		p := l.pop()
		if l.space != nil {
			close(l.space)
			l.space = nil
		}
		l.mu.Unlock()
		h.handle(&p, acks)
		if l.events {
			acks.flush() // as soon as it is durable, not after a later event's fsync
			continue
		}
		if taken%readingTurn == 0 {
			acks.flush() // l may go to another worker below
			h.mu.Lock()
			next := h.popWaitLocked()
			if next != nil { // its turn is over: to the back of the list
				h.pushWaitLocked(l)
			}
			h.mu.Unlock()
			if next != nil {
				return next
			}
		}
	}
	if l.events {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	next := h.popWaitLocked()
	if next == nil {
		h.readingWorkers--
	}
	return next
}

// handle takes one handed-off publish and adds the PUBACK mochi would have
// written to acks.
func (h *handoff) handle(p *publish, acks *ackBatch) {
	s := h.s
	acked := false // then acks lets it go from s.publishing once written
	defer func() {
		if !acked {
			s.publishing.Add(-1)
		}
	}()
	defer func() {
		// The workers are our goroutines: a panic past takePublish's own
		// recover (encoding the PUBACK) must not end the process.
		if r := recover(); r != nil {
			s.poisoned("handoff", p.cl, p, r)
		}
	}()
	s.capacity.observeWait(p.read)
	if tc, _ := p.cl.Net.Conn.(*trackedConn); tc != nil && tc.kicked.Load() {
		// We ended this connection (a journal failure, poison, a refusal
		// flood) after it was read: mochi would have read no further, and
		// a QoS 1 message unacknowledged is sent again.
		if ch, _ := ownChannel(p.topic, p.cl.ID); ch == devices.ChanEvents && p.qos == 0 {
			s.m.eventsDropped.Inc()
			s.log.Warn().Str("hub_id", p.cl.ID).Msg("QoS 0 event dropped: its connection was closed by the gateway")
		}
		if p.mochi != nil {
			putMochiPacket(p.mochi)
		}
		return
	}
	if p.mochi != nil {
		// mochi's read loop would have processed it before anything read
		// after it, a DISCONNECT included: a status or a SUBSCRIBE (kept
		// in a persistent session) just before a hub leaves still counts.
		// Unless mochi is done with the client (taken over, or its session
		// ended): a SUBSCRIBE then would subscribe a session nobody holds.
		acks.flush() // mochi's answer (a SUBACK) after the PUBACKs before it
		switch cur, ok := s.mq.Clients.Get(p.cl.ID); {
		case !ok || cur != p.cl:
		case p.mochi.FixedHeader.Type == packets.Subscribe || p.mochi.FixedHeader.Type == packets.Unsubscribe:
			s.subscription(p.cl, p.mochi)
		default:
			s.inject(p.cl, *p.mochi)
		}
		putMochiPacket(p.mochi)
		return
	}
	out := s.takePublish(p)
	if p.qos == 0 || out.verdict == notTaken {
		return
	}
	acked = acks.add(p.cl, ackFor(p, out))
}

// inject has mochi process a packet its read loop handed over, and does
// with an error what the read loop does (Server.receivePacket): an MQTT 5
// hub is told the reason, and the connection ends.
func (s *Server) inject(cl *mqtt.Client, pk packets.Packet) {
	s.packetFailed(cl, pk.FixedHeader.Type, s.mq.InjectPacket(cl, pk))
}

// packetFailed does what mochi's read loop does with an error processing
// a packet of type typ, if err is one.
func (s *Server) packetFailed(cl *mqtt.Client, typ byte, err error) {
	if err == nil {
		return
	}
	if cl.Closed() { // its answer could not be written: nothing to tell
		return
	}
	if code, ok := err.(packets.Code); ok && cl.Properties.ProtocolVersion == 5 && code.Code >= packets.ErrUnspecifiedError.Code {
		_ = s.mq.DisconnectClient(cl, code)
	}
	s.log.Warn().Err(err).Str("hub_id", cl.ID).Str("packet", packets.PacketNames[typ]).Msg("error processing packet")
	cl.Stop(err)
}

// ackFor is the PUBACK mochi's processPublish writes for out: the granted
// QoS's code when taken or ignored, the reason code (with its reason
// string) when refused, and the publish's user properties echoed.
func ackFor(p *publish, out outcome) packets.Packet {
	code := packets.QosCodes[p.qos]
	if out.verdict == refusedCode {
		code = out.code
	}
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Puback},
		PacketID:    p.id,
		ReasonCode:  code.Code,
		Properties:  packets.Properties{User: p.user},
	}
	if code.Code >= packets.ErrUnspecifiedError.Code {
		ack.Properties.ReasonString = code.Reason
	}
	return ack
}
