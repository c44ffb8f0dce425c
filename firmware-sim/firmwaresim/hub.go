package firmwaresim

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/devices"
)

type hubState uint8

const (
	stOffline    hubState = iota // waiting for retryAt
	stDialing                    // a dial worker has it
	stConnecting                 // CONNECT sent, waiting for CONNACK
	stOnline                     // CONNACK 0 received
	stStopped                    // Stop called: no reconnect
)

// Answer is what the simulated resident does when the gateway asks "are you
// all right?" (a check_in command).
type Answer uint8

const (
	AnswerCheckIn Answer = iota // presses "I am all right": a check_in event
	AnswerCancel                // presses cancel: a cancel event (emergency class)
	AnswerNone                  // does not answer (collapsed, asleep, out)
)

// Protocol constants a hub keeps (docs/protocol.md sections 7.3, 16, 17).
const (
	maxInflight      = 16
	maxQueuedEvents  = 1000
	maxQueuedBatches = 30 // readings kept while offline; older ones are thinned
	pubackTimeout    = 30 * time.Second
	stableAfter      = 60 * time.Second // a connection this old resets the backoff
	maxBackoff       = 300 * time.Second
	minReconnect     = time.Second
	connectTimeout   = 10 * time.Second
)

// outMsg is a QoS 1 message waiting to be sent or acknowledged.
type outMsg struct {
	payload   []byte
	buf       *payloadBuf     // payload's pooled buffer, nil if not pooled
	id        devices.EventID // events only
	ch        devices.Channel
	emergency bool
	dup       bool
	pid       uint16
	sentAt    int64 // wall ns
}

// Hub is the firmware of one simulated home. Its methods are safe for
// concurrent use; the fleet's scheduler drives it through tick.
type Hub struct {
	mu     sync.Mutex
	fleet  *Fleet
	ID     devices.HubID
	Secret string
	Home   Home
	// Answer is the resident's answer to check-in commands.
	Answer Answer

	nextWake atomic.Int64 // wall ns of the pending scheduler entry, 0: none
	state    hubState
	slot     bool // holds a Fleet.slots token (dialled, no CONNACK yet)
	refused  bool // its last CONNECT was refused busy or unavailable (no CONNACK 0 since)
	link     Link
	rx       *hubRx
	gen      uint32
	attempt  uint8
	retryAt  int64 // wall ns
	deadline int64 // wall ns: connect timeout
	upAt     int64 // wall ns of the last CONNACK
	lastOut  int64 // wall ns of the last write (keepalive)
	nextBeat int64 // wall ns
	downTill int64 // wall ns: link cut by a scenario until then
	pid      uint16
	heartS   uint16

	inflight []outMsg
	queue    []outMsg // store and forward, oldest first (emergencies ahead)
	batches  int      // readings batches in queue
	pending  []devices.Event
	minute   int64 // sim ms: start of the next minute whose events are generated
	phase    int64 // sim ms after each minute when this hub sends its batch
	partial  []byte
	rnd      rand.PCG
	ota      otaState
}

// hubRx ties a link's callbacks to one connection of a hub, so that a late
// callback from a previous connection is ignored.
type hubRx struct {
	h   *Hub
	gen uint32
}

func (r *hubRx) Deliver(p []byte) { r.h.deliver(r.gen, p) }
func (r *hubRx) Closed(err error) { r.h.closed(r.gen, err) }

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h *Hub) topic(ch devices.Channel) string { return devices.Topic(h.ID, ch) }

// jitter returns a uniform duration in [0, d).
func (h *Hub) jitter(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(h.rnd.Uint64() % uint64(d))
}

// write sends frames on the link; an error drops the connection.
func (h *Hub) write(now int64, b []byte) bool {
	if h.link == nil {
		return false
	}
	if err := h.link.Write(b); err != nil {
		h.drop(now, "write: "+err.Error())
		return false
	}
	h.lastOut = now
	return true
}

// offlineStatus is every simulated hub's will and offline status: the same
// bytes each time, encoded once (a refused hub sends its will with every
// CONNECT, several a minute; encoding it each time was ~200 B of the
// simulator's garbage per try, in the gateway's process).
var offlineStatus = devices.EncodeStatus(devices.Status{State: devices.HubOffline, Model: "SIM-1"})

// drop ends the current connection and schedules a reconnect with
// exponential backoff and full jitter (protocol section 17.1). Messages in
// flight stay there and are resent with DUP after reconnecting.
func (h *Hub) drop(now int64, why string) {
	if h.link != nil {
		h.link.Close()
		h.link = nil
	}
	wasOnline := h.state == stOnline
	h.fleet.releaseSlot(h)
	h.rx = nil
	h.gen++
	h.partial = nil
	if h.state == stStopped {
		return
	}
	h.state = stOffline
	if wasOnline {
		h.fleet.stats.online.Add(-1)
		h.fleet.stats.disconnects.Add(1)
		if now-h.upAt >= int64(stableAfter) {
			h.attempt = 0
		}
	}
	capD := min(h.fleet.opts.MaxBackoff, time.Second<<min(h.attempt, 20))
	h.attempt++
	wait := max(h.jitter(capD), int64(minReconnect))
	h.retryAt = max(now+wait, h.downTill)
	h.fleet.observe(HubEvent{Hub: h, Kind: EvDisconnected, Detail: why})
}

// tick does whatever is due at wall time now and returns when to come back.
func (h *Hub) tick(now int64) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.fleet
	next := now + int64(time.Hour)
	sim := f.clock.Sim(time.Unix(0, now)).UnixMilli()
	h.generate(now, sim)
	if h.minute != 0 {
		next = min(next, f.clock.Wall(time.UnixMilli(h.minute+h.phase)).UnixNano())
	}
	if len(h.pending) > 0 {
		next = min(next, f.clock.Wall(h.pending[0].At).UnixNano())
	}
	switch h.state {
	case stOffline:
		if now < h.retryAt {
			return min(next, h.retryAt)
		}
		// The connect timeout starts when a dialer takes the hub: waiting
		// in the fleet's dial queue is the simulator's pacing, not the
		// gateway's slowness.
		h.state = stDialing
		h.deadline = 0
		h.gen++
		h.rx = &hubRx{h: h, gen: h.gen}
		f.stats.dials.Add(1)
		f.dial(h, h.rx)
		return next
	case stDialing, stConnecting:
		if h.deadline == 0 {
			return next
		}
		if now >= h.deadline {
			h.drop(now, "connect timeout")
			return min(next, h.retryAt)
		}
		return min(next, h.deadline)
	case stOnline:
		for _, m := range h.inflight {
			if now-m.sentAt >= int64(pubackTimeout) {
				// No PUBACK in 30 s: reconnect, which resends it (section 7.3).
				h.drop(now, "puback timeout")
				return min(next, h.retryAt)
			}
			next = min(next, m.sentAt+int64(pubackTimeout))
		}
		if now >= h.nextBeat {
			h.heartbeat(now, sim)
		}
		next = min(next, h.nextBeat)
		// Like paho and most firmware, ping only when nothing else went
		// out for a whole keep alive (the broker allows 1.5 times it): a
		// hub that sends its batch every minute rarely pings at all.
		if ka := h.lastOut + int64(f.opts.Keepalive)*int64(time.Second); now >= ka {
			b := bufPool.Get().(*bytes.Buffer)
			b.Reset()
			AppendPingreq(b)
			h.write(now, b.Bytes())
			bufPool.Put(b)
		}
		if h.state == stOnline {
			next = min(next, h.lastOut+int64(f.opts.Keepalive)*int64(time.Second))
		}
	case stStopped:
		return 0
	}
	return next
}

// generate makes the readings and events the home produced up to sim time
// and queues them; it runs whether or not the hub is connected (store and
// forward).
func (h *Hub) generate(now, sim int64) {
	f := h.fleet
	if h.minute == 0 {
		h.minute = (sim/60000 + 1) * 60000
		h.pending = h.Home.Events(h.pending[:0], time.UnixMilli(h.minute-60000))
		// Keep only what is still to come.
		for len(h.pending) > 0 && h.pending[0].At.UnixMilli() <= sim {
			h.pending = h.pending[1:]
		}
	}
	// Events whose time has come.
	for len(h.pending) > 0 && h.pending[0].At.UnixMilli() <= sim {
		e := h.pending[0]
		h.pending = h.pending[1:]
		h.enqueueEvent(now, e)
	}
	// Minute boundaries: the batch of the minute just ended, and the events
	// of the next minute (so that each goes out when it happens).
	for steps := 0; sim >= h.minute+h.phase && steps < 10; steps++ {
		if !f.opts.NoReadings {
			scratch := readingsPool.Get().(*[]devices.Reading)
			rs := h.Home.Readings((*scratch)[:0], time.UnixMilli(h.minute-60000))
			if len(rs) > 0 {
				h.enqueueReadings(now, time.UnixMilli(min(sim, h.minute+h.phase)), rs)
			}
			*scratch = rs
			readingsPool.Put(scratch)
		}
		if len(h.pending) == 0 {
			h.pending = nil
		}
		if !f.opts.NoEvents {
			h.pending = h.Home.Events(h.pending, time.UnixMilli(h.minute))
		}
		h.minute += 60000
	}
	h.flush(now)
}

// readingsPool holds the slices a minute's readings are generated into
// before encoding: the simulator shares the gateway's process and garbage
// collector in load runs, so it should not add garbage per batch.
var readingsPool = sync.Pool{New: func() any { s := make([]devices.Reading, 0, 32); return &s }}

// enqueueReadings queues a readings batch at QoS 1, its payload in a pooled
// buffer that the PUBACK gives back.
func (h *Hub) enqueueReadings(now int64, sent time.Time, rs []devices.Reading) {
	pb := getPayload()
	payload := AppendReadings(pb.b[:0], devices.ReadingBatch{SentAt: sent, Readings: rs})
	h.enqueue(now, outMsg{ch: devices.ChanReadings, payload: payload, buf: pb})
}

// release gives m's pooled payload back: only once the message is
// acknowledged or given up, since until then a reconnect resends it.
func (m *outMsg) release() {
	if m.buf != nil {
		putPayload(m.buf, m.payload)
		m.buf, m.payload = nil, nil
	}
}

// enqueueEvent queues an event at QoS 1.
func (h *Hub) enqueueEvent(now int64, e devices.Event) {
	h.enqueue(now, outMsg{ch: devices.ChanEvents, id: e.ID, emergency: e.Kind.IsEmergency(), payload: devices.EncodeEvent(e)})
}

// enqueue adds a QoS 1 message to the store-and-forward queue: emergencies
// go ahead of the backlog (after earlier emergencies); when the queue is
// full the oldest readings go first, then the oldest non-emergency events.
func (h *Hub) enqueue(now int64, m outMsg) {
	st := &h.fleet.stats
	if m.ch == devices.ChanReadings {
		if h.batches >= maxQueuedBatches {
			for i := range h.queue {
				if h.queue[i].ch == devices.ChanReadings {
					h.queue[i].release()
					h.queue = slices.Delete(h.queue, i, i+1)
					h.batches--
					st.droppedBatches.Add(1)
					break
				}
			}
		}
		h.batches++
	} else if len(h.queue)-h.batches >= maxQueuedEvents {
		for i := range h.queue {
			if h.queue[i].ch == devices.ChanEvents && !h.queue[i].emergency {
				h.queue[i].release()
				h.queue = slices.Delete(h.queue, i, i+1)
				st.droppedEvents.Add(1)
				break
			}
		}
	}
	if m.emergency {
		st.emergencies.Add(1)
		i := 0
		for i < len(h.queue) && h.queue[i].emergency {
			i++
		}
		h.queue = append(h.queue, outMsg{})
		copy(h.queue[i+1:], h.queue[i:])
		h.queue[i] = m
		return
	}
	h.queue = append(h.queue, m)
}

// flush sends queued messages while the window of 16 unacknowledged QoS 1
// messages allows.
func (h *Hub) flush(now int64) {
	if h.state != stOnline {
		return
	}
	for len(h.queue) > 0 && len(h.inflight) < maxInflight {
		m := h.queue[0]
		h.queue[0] = outMsg{}
		h.queue = h.queue[1:]
		if m.ch == devices.ChanReadings {
			h.batches--
		}
		if len(h.queue) == 0 {
			h.queue = nil
		}
		m.pid = h.nextPID()
		if !h.send(now, &m) {
			h.queue = append([]outMsg{m}, h.queue...)
			if m.ch == devices.ChanReadings {
				h.batches++
			}
			return
		}
	}
}

func (h *Hub) nextPID() uint16 {
	for {
		h.pid++
		if h.pid == 0 {
			h.pid = 1
		}
		used := false
		for _, m := range h.inflight {
			if m.pid == h.pid {
				used = true
				break
			}
		}
		if !used {
			return h.pid
		}
	}
}

// send publishes m at QoS 1 and records it in flight.
func (h *Hub) send(now int64, m *outMsg) bool {
	b := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(b)
	b.Reset()
	if err := AppendPublish(b, h.fleet.opts.Version, h.topic(m.ch), m.payload, 1, m.pid, m.dup, false); err != nil {
		return false
	}
	m.sentAt = now
	if !h.write(now, b.Bytes()) {
		return false
	}
	st := &h.fleet.stats
	st.published.Add(1)
	if m.dup {
		st.resent.Add(1)
	}
	m.dup = true // a later copy is a resend
	h.inflight = append(h.inflight, *m)
	return true
}

// publish0 sends a QoS 0 message if online (heartbeats and accel chunks are
// never buffered, protocol section 16).
func (h *Hub) publish0(now int64, ch devices.Channel, payload []byte) {
	if h.state != stOnline {
		return
	}
	b := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(b)
	b.Reset()
	if AppendPublish(b, h.fleet.opts.Version, h.topic(ch), payload, 0, 0, false, false) == nil && h.write(now, b.Bytes()) {
		h.fleet.stats.published.Add(1)
	}
}

func (h *Hub) heartbeat(now, sim int64) {
	h.nextBeat = now + int64(h.heartS)*int64(time.Second)
	h.publish0(now, devices.ChanHeartbeat, devices.EncodeHeartbeat(devices.Heartbeat{At: time.UnixMilli(sim),
		Uptime: time.Duration(now-h.fleet.started) * time.Nanosecond, RSSI: -60, Queued: len(h.queue)}))
}

// closed is the gateway ending the link (restart, takeover, refusal).
func (h *Hub) closed(gen uint32, err error) {
	h.mu.Lock()
	if gen != h.gen || h.state == stOffline || h.state == stStopped {
		h.mu.Unlock()
		return
	}
	h.link = nil // already closed by the gateway
	now := time.Now().UnixNano()
	h.drop(now, "closed by gateway")
	at := h.retryAt
	h.mu.Unlock()
	h.fleet.schedule(h, at)
}

// connected is the dial worker's report.
func (h *Hub) connected(gen uint32, link Link, err error) {
	h.mu.Lock()
	now := time.Now().UnixNano()
	if gen != h.gen || h.state != stDialing {
		h.mu.Unlock()
		<-h.fleet.slots // the dialer's token: this hub no longer needs it
		if link != nil {
			link.Close()
		}
		return
	}
	h.slot = true
	if err != nil {
		h.drop(now, "dial: "+err.Error())
		at := h.retryAt
		h.mu.Unlock()
		h.fleet.schedule(h, at)
		return
	}
	h.link = link
	h.state = stConnecting
	h.deadline = now + int64(connectTimeout)
	f := h.fleet
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	AppendConnect(b, ConnectOptions{Version: f.opts.Version, ClientID: string(h.ID), Username: string(h.ID), Password: h.Secret,
		Keepalive: f.opts.Keepalive, WillTopic: h.topic(devices.ChanStatus),
		WillPayload:   offlineStatus,
		SessionExpiry: 3600, ReceiveMaximum: maxInflight})
	h.write(now, b.Bytes())
	bufPool.Put(b)
	at := h.deadline
	if h.state != stConnecting {
		at = h.retryAt // the write failed and dropped the link
	}
	h.mu.Unlock()
	f.schedule(h, at)
}

// deliver parses what the gateway sent.
func (h *Hub) deliver(gen uint32, p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen != h.gen || h.link == nil {
		return
	}
	if len(h.partial) > 0 {
		h.partial = append(h.partial, p...)
		p = h.partial
	}
	// Over a MemListener this runs on a delivery goroutine, not the
	// broker's: a PUBACK's latency (taken from now) includes that hand-over,
	// as over TCP it includes the network hop and the hub's reader waking.
	now := time.Now().UnixNano()
	for len(p) > 0 {
		n, fh, err := SplitFrame(p)
		if err != nil {
			h.drop(now, err.Error())
			return
		}
		if n == 0 {
			break
		}
		pk, err := DecodeFrame(p[:n], fh, h.fleet.opts.Version)
		if err != nil {
			h.drop(now, err.Error())
			return
		}
		p = p[n:]
		h.handle(now, &pk)
		if gen != h.gen {
			return // the frame ended the connection
		}
	}
	if len(p) > 0 {
		h.partial = append([]byte(nil), p...)
	} else {
		h.partial = nil
	}
}

func (h *Hub) handle(now int64, pk *packets.Packet) {
	f := h.fleet
	switch pk.FixedHeader.Type {
	case packets.Connack:
		h.onConnack(now, pk)
	case packets.Puback:
		for i, m := range h.inflight {
			if m.pid != pk.PacketID {
				continue
			}
			// Deleted with the tail zeroed: no stale copy may keep the
			// payload that release hands back to the pool.
			h.inflight = slices.Delete(h.inflight, i, i+1)
			if len(h.inflight) == 0 {
				h.inflight = nil
			}
			m.release()
			lat := time.Duration(now - m.sentAt)
			f.stats.acked.Add(1)
			f.stats.puback.Record(lat)
			if m.emergency {
				f.stats.emergencyPuback.Record(lat)
			}
			if pk.ReasonCode >= 0x80 {
				f.stats.refused.Add(1)
			}
			if m.id != "" {
				f.observe(HubEvent{Hub: h, Kind: EvAcked, EventID: m.id, Latency: lat, Code: pk.ReasonCode})
			}
			break
		}
		h.flush(now)
	case packets.Publish:
		if pk.FixedHeader.Qos > 0 {
			b := bufPool.Get().(*bytes.Buffer)
			b.Reset()
			AppendPuback(b, f.opts.Version, pk.PacketID)
			h.write(now, b.Bytes())
			bufPool.Put(b)
		}
		h.onPublish(now, pk)
	case packets.Disconnect:
		h.drop(now, "disconnect 0x"+strconv.FormatUint(uint64(pk.ReasonCode), 16))
		if pk.ReasonCode == packets.ErrUseAnotherServer.Code {
			// The hub's home moved to another gateway (protocol 13.2): not
			// a failure, so back at once, through the load balancer, with
			// the backoff starting over.
			h.attempt = 0
			h.retryAt = max(now+int64(minReconnect), h.downTill)
		}
		f.scheduleLocked(h, h.retryAt)
	}
}

func (h *Hub) onConnack(now int64, pk *packets.Packet) {
	f := h.fleet
	if h.state != stConnecting {
		return
	}
	f.releaseSlot(h)
	if pk.ReasonCode != 0 {
		code := pk.ReasonCode
		h.drop(now, "connack 0x"+strconv.FormatUint(uint64(code), 16))
		switch code {
		case 0x03, 0x88, 0x89, 0x9F:
			// Busy or unavailable (3.1.1: 0x03; MQTT 5 has no 0x03): the
			// backoff drop set (17.1).
			f.stats.refusedConnects.Add(1)
			if !h.refused {
				h.refused = true
				f.stats.refusedHubs.Add(1)
			}
		case 0x02, 0x04, 0x05, 0x85, 0x86, 0x87:
			// Credentials will not change until an operator acts (17.2).
			f.stats.deniedConnects.Add(1)
			h.retryAt = now + int64(f.opts.AuthRetry) + h.jitter(3*f.opts.AuthRetry)
		default:
			f.stats.deniedConnects.Add(1)
		}
		f.scheduleLocked(h, h.retryAt)
		return
	}
	if h.refused {
		h.refused = false
		f.stats.refusedHubs.Add(-1)
	}
	h.state = stOnline
	h.upAt = now
	f.stats.online.Add(1)
	f.stats.connects.Add(1)
	b := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(b)
	b.Reset()
	AppendSubscribe(b, f.opts.Version, h.nextPID(), h.topic(devices.ChanCmd), h.topic(devices.ChanRejects))
	sim := f.clock.Sim(time.Unix(0, now))
	AppendPublish(b, f.opts.Version, h.topic(devices.ChanStatus), devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: sim,
		Firmware: h.firmware(), Model: SimModel, HeartbeatInterval: time.Duration(h.heartS) * time.Second}), 1, h.nextPID(), false, true)
	if !h.write(now, b.Bytes()) {
		return
	}
	if h.ota.doneCmd != "" {
		// Back from the reboot into the new image: the firmware_update's
		// last acknowledgement (protocol section 11.3), after the steps
		// still in flight.
		h.enqueue(now, outMsg{ch: devices.ChanCmdAck, payload: devices.EncodeCmdAck(devices.CommandAck{ID: h.ota.doneCmd, Status: devices.AckDone, Firmware: h.ota.fw, At: sim})})
		h.ota.doneCmd = ""
	}
	// Unacknowledged messages first, with DUP and their packet ids, then
	// the backlog oldest first (section 16).
	resend := h.inflight
	h.inflight = nil
	for i := range resend {
		if !h.send(now, &resend[i]) {
			// The link failed (and was dropped): what was not resent stays
			// in flight for the next connection, or it would be lost.
			h.inflight = append(h.inflight, resend[i:]...)
			return
		}
	}
	h.nextBeat = now + int64(h.jitter(time.Duration(h.heartS)*time.Second))
	h.flush(now)
	f.observe(HubEvent{Hub: h, Kind: EvConnected})
	f.scheduleLocked(h, now)
}

func (h *Hub) onPublish(now int64, pk *packets.Packet) {
	f := h.fleet
	_, ch, err := devices.ParseTopic(pk.TopicName)
	if err != nil {
		return
	}
	switch ch {
	case devices.ChanRejects:
		f.stats.rejects.Add(1)
		rj, err := devices.DecodeReject(pk.Payload)
		if err == nil {
			f.observe(HubEvent{Hub: h, Kind: EvReject, EventID: rj.EventID, Detail: string(rj.Code) + ": " + rj.Error})
		}
	case devices.ChanCmd:
		f.stats.commands.Add(1)
		cmd, err := devices.DecodeCommand(pk.Payload)
		if err != nil {
			return
		}
		f.observe(HubEvent{Hub: h, Kind: EvCommand, Detail: string(cmd.Type), CommandID: cmd.ID})
		sim := f.clock.Sim(time.Unix(0, now))
		if cmd.Type == devices.CmdFirmwareUpdate {
			acks, reboot := h.firmwareUpdate(now, cmd, sim)
			for _, a := range acks {
				h.enqueue(now, outMsg{ch: devices.ChanCmdAck, payload: devices.EncodeCmdAck(a)})
			}
			h.flush(now)
			if reboot {
				h.reboot(now)
			}
			return
		}
		acks, ev, hb := AnswerCommand(cmd, h.Answer, sim)
		if hb > 0 {
			h.heartS = hb
		}
		for i, a := range acks {
			h.enqueue(now, outMsg{ch: devices.ChanCmdAck, payload: devices.EncodeCmdAck(a)})
			if i == 0 && ev != nil {
				h.enqueueEvent(now, *ev) // accepted, the resident's answer, then done
			}
		}
		h.flush(now)
	}
}

// AnswerCommand is what a hub's firmware answers to a command at sim time
// (protocol section 12): the acks to send in order (accepted first) and,
// for check_in, the resident's event (nil when they do not answer);
// heartbeat is the new heartbeat interval in seconds for a valid
// set_heartbeat (0 otherwise).
func AnswerCommand(cmd devices.Command, answer Answer, sim time.Time) (acks []devices.CommandAck, ev *devices.Event, heartbeat uint16) {
	ack := func(s devices.AckStatus) { acks = append(acks, devices.CommandAck{ID: cmd.ID, Status: s, At: sim}) }
	switch cmd.Type {
	case devices.CmdCheckIn:
		ack(devices.AckAccepted)
		detail, _ := json.Marshal(map[string]string{"cmd_id": string(cmd.ID)})
		switch answer {
		case AnswerCheckIn:
			ev = &devices.Event{ID: devices.EventID("ci-" + string(cmd.ID)), Kind: devices.EventCheckIn, Sensor: SensorPendant, At: sim, Detail: detail}
			ack(devices.AckDone)
		case AnswerCancel:
			ev = &devices.Event{ID: devices.EventID("cx-" + string(cmd.ID)), Kind: devices.EventCancel, Sensor: SensorPendant, At: sim, Detail: detail}
			ack(devices.AckDone)
		default:
			ack(devices.AckFailed)
		}
	case devices.CmdSetHeartbeat:
		var a struct {
			Seconds int `json:"seconds"`
		}
		if json.Unmarshal(cmd.Args, &a) == nil && a.Seconds > 0 && a.Seconds <= 3600 {
			heartbeat = uint16(a.Seconds)
			ack(devices.AckDone)
		} else {
			ack(devices.AckFailed)
		}
	default:
		ack(devices.AckDone)
	}
	return acks, ev, heartbeat
}

// Publish queues an event as the hub's firmware would: at QoS 1, buffered
// while offline, replayed oldest first with the same id.
func (h *Hub) Publish(e devices.Event) {
	h.mu.Lock()
	now := time.Now().UnixNano()
	h.enqueueEvent(now, e)
	h.flush(now)
	h.mu.Unlock()
}

// PublishReadings queues a batch of readings (QoS 1, buffered while offline).
func (h *Hub) PublishReadings(sent time.Time, rs []devices.Reading) {
	h.mu.Lock()
	now := time.Now().UnixNano()
	h.enqueueReadings(now, sent, rs)
	h.flush(now)
	h.mu.Unlock()
}

// PublishAccel sends an accelerometer chunk at QoS 0 if connected.
func (h *Hub) PublishAccel(c devices.AccelChunk) {
	h.mu.Lock()
	h.publish0(time.Now().UnixNano(), devices.ChanAccel, devices.EncodeAccel(c))
	h.mu.Unlock()
}

// CutLink drops the connection without a DISCONNECT (the gateway publishes
// the will) and keeps the hub off the network for d; events made meanwhile
// are buffered.
func (h *Hub) CutLink(d time.Duration) {
	h.mu.Lock()
	now := time.Now().UnixNano()
	h.downTill = now + int64(d)
	if h.state != stOffline && h.state != stStopped {
		h.drop(now, "link cut")
	}
	h.retryAt = max(h.retryAt, h.downTill)
	at := h.retryAt
	h.mu.Unlock()
	h.fleet.schedule(h, at)
}

// Modify runs fn on the home with the hub locked (scenario fault injection).
func (h *Hub) Modify(fn func(*Home)) {
	h.mu.Lock()
	fn(&h.Home)
	h.mu.Unlock()
}

// Refused reports whether the hub's last CONNECT was refused as busy or
// unavailable (CONNACK 0x89, 0x88, 0x9F; 3.1.1 0x03) and it has not been
// admitted since: a home the gateway had no place for.
func (h *Hub) Refused() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refused
}

// Online reports whether the hub holds a CONNACK.
func (h *Hub) Online() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state == stOnline
}

// Backlog returns the messages queued and in flight.
func (h *Hub) Backlog() (queued, inflight int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.queue), len(h.inflight)
}

// Stop disconnects cleanly (offline status, then DISCONNECT) and does not
// reconnect.
func (h *Hub) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now().UnixNano()
	if h.state == stOnline {
		b := bufPool.Get().(*bytes.Buffer)
		b.Reset()
		AppendPublish(b, h.fleet.opts.Version, h.topic(devices.ChanStatus), offlineStatus, 1, h.nextPID(), false, true)
		AppendDisconnect(b, h.fleet.opts.Version)
		h.write(now, b.Bytes())
		bufPool.Put(b)
	}
	if h.state == stOnline {
		h.fleet.stats.online.Add(-1)
	}
	h.fleet.releaseSlot(h)
	h.state = stStopped
	if h.link != nil {
		h.link.Close()
		h.link = nil
	}
	h.gen++
}
