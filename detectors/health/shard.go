package health

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/wheel"
	"github.com/dolbom/dolbom/devices"
)

type opKind uint8

const (
	opMessage opKind = iota + 1
	opConnection
	opRefresh
	opAdvance // Monitor.Advance: time moves on (Config.Clock set)
	opControl
)

// op is one unit of work for a shard, passed by value so that queueing
// allocates nothing.
type op struct {
	kind    opKind
	msg     *devices.Message
	conn    devices.ConnectionEvent
	refresh *registryEntry  // opRefresh, and opControl's ctl (not a field of op: see registryEntry)
	at      time.Time       // opAdvance
	stepped *sync.WaitGroup // opAdvance from Step: told once taken
}

func (o *op) hub() devices.HubID {
	switch o.kind {
	case opMessage:
		return o.msg.Hub
	case opConnection:
		return o.conn.Hub
	case opRefresh:
		return o.refresh.hub.ID
	case opControl:
		return o.refresh.ctl.Hub()
	}
	return ""
}

type registryEntry struct {
	hub     devices.Hub
	sensors []devices.Sensor
	// ctl is a cluster's acquisition or release (opControl). It rides
	// here, not in op, which every input copies through the shard's
	// channel: a field more there cost the monitor's queued path ~35 ns of
	// CPU per input (BenchmarkShardQueued, three alternated runs).
	ctl *healthCtl
}

type healthReply struct {
	health devices.HubHealth
	ok     bool
}

// Hub-level faults, as bit shard.Positions of hubState.faults.
const (
	hubOffline = iota
	hubPowerLost
	hubBatteryLow
	hubClockSkew
	hubEndOfLife
	hubFaultCount
)

// Sensor-level faults, as bit shard.Positions of sensorState.faults.
const (
	sensorBatteryLow = iota
	sensorSilent
	sensorFaulty
	sensorFaultCount
)

var hubFaultCauses = [hubFaultCount]detectors.Cause{detectors.CauseHubOffline, detectors.CausePowerLost, detectors.CauseBatteryLow, detectors.CauseClockSkew, detectors.CauseEndOfLife}
var hubFaultKinds = [hubFaultCount]devices.Fault{devices.FaultOffline, devices.FaultPowerLost, devices.FaultBatteryLow, devices.FaultClockSkew, devices.FaultEndOfLife}
var sensorFaultCauses = [sensorFaultCount]detectors.Cause{detectors.CauseBatteryLow, detectors.CauseSensorSilent, detectors.CauseSensorFault}
var sensorFaultKinds = [sensorFaultCount]devices.Fault{devices.FaultBatteryLow, devices.FaultSensorSilent, devices.FaultSensorFault}

// healthCauses indexes the per-cause counters.
var healthCauses = [...]detectors.Cause{detectors.CauseHubOffline, detectors.CausePowerLost, detectors.CauseBatteryLow, detectors.CauseSensorSilent, detectors.CauseSensorFault, detectors.CauseEndOfLife, detectors.CauseClockSkew}

func causeIndex(c detectors.Cause) int {
	for i, x := range healthCauses {
		if x == c {
			return i
		}
	}
	return 0
}

type hubFlags uint16

const (
	fOnline         hubFlags = 1 << iota // as far as the monitor can tell
	fConnected                           // per the broker's connection events
	fOfflinePending                      // disconnected, within OfflineGrace
	fPowerKnown
	fOnMains
	fDisabled
	fRegistered
)

// hubState is one hub's health, kept small: times are Unix milliseconds
// (0 = never) and faults are bits with their episode starts beside them.
type hubState struct {
	id             devices.HubID
	timer          wheel.Timer
	flags          hubFlags
	faults         uint8
	heartbeatS     int32 // interval the hub announced, 0 = none
	battery        float32
	lastSeen       int64
	lastConnect    int64
	lastDisconnect int64
	onlineSince    int64
	offlineSince   int64 // start of a pending disconnect
	powerAt        int64 // event time of the last power change applied
	batteryAt      int64
	endOfLife      int64
	skewMs         int64
	since          [hubFaultCount]int64
	firmware       string
	firmwareAt     int64 // when the hub first reported firmware (0: registry's, not reported)
	sensors        []sensorState
	own            shard.OwnIDs // ids of sensors the shared table had no room for
	applied        int64        // newest journal position applied (see Journal)
	// epoch is the ownership epoch this gateway holds the hub under (0 on
	// a single gateway); floorMs is its own restart floor (wall ms), set
	// when a cluster acquires it.
	epoch   devices.Epoch
	floorMs int64
}

type sensorFlags uint8

const (
	sRegistered sensorFlags = 1 << iota
	sSupervised             // registered, enabled, with a reporting interval
	sIsHub                  // the hub's own battery and mains
)

// sensorState is one sensor's health: 64 bytes without a pointer (the id is
// a shard.Name, see hubState.sensorID), so a hub's list is never scanned by
// the collector and 13 sensors fit an 896-byte allocation (issue 14).
type sensorState struct {
	lastSeen  int64
	batteryAt int64
	faultAt   int64 // event time of the last fault or tamper event
	since     [sensorFaultCount]int64
	reportS   int32
	battery   float32
	name      shard.Name
	faults    uint8
	flags     sensorFlags
}

// sensorID is the id of the hub's sensor k.
func (h *hubState) sensorID(k int) devices.SensorID { return h.own.ID(h.sensors[k].name) }

func (h *hubState) has(f int) bool     { return h.faults&(1<<f) != 0 }
func (s *sensorState) has(f int) bool  { return s.faults&(1<<f) != 0 }
func (h *hubState) is(f hubFlags) bool { return h.flags&f != 0 }
func (h *hubState) set(f hubFlags, on bool) {
	if on {
		h.flags |= f
	} else {
		h.flags &^= f
	}
}

// hubShard owns the state of the hubs that hash to it. Only its goroutine
// touches it once Run has started.
type hubShard struct {
	m     *Monitor
	rt    *shard.Shard[op, devices.HubHealthRecord] // its intake and loop; serves Health's queries
	begin chan struct{}                             // closed once the saved state is loaded (Monitor.Run)

	index map[devices.HubID]int32
	hubs  shard.Chunked[hubState]
	slots shard.Slots      // indexes of released hubs, for reuse
	acq   shard.Holder[op] // a cluster's hubs being acquired, with their parked inputs
	wheel *wheel.Wheel
	dirty shard.SaveQueue // hubs changed since saved
	pos   shard.Positions // journal positions applied since handed to the save loop
	// replay is the journal's tail, applied before any input (takeJournal).
	replay []*devices.Message

	restartFloor int64 // deadlines re-armed from saved state fire no earlier
	nextEOLCheck time.Time
	now          time.Time // of the Advance under way
	onExpired    func(key uint64, t wheel.Timer)
}

func newHubShard(m *Monitor) *hubShard {
	s := &hubShard{
		m:     m,
		begin: make(chan struct{}),
		index: map[devices.HubID]int32{},
		dirty: shard.NewSaveQueue(shard.SeenRounds(m.cfg.SaveInterval, m.cfg.SeenSaveInterval)),
	}
	s.rt = shard.NewShard(shard.Machine[op, devices.HubHealthRecord](s), m.cfg.QueueSize, (*op).hub, true)
	s.acq = s.holder()
	s.onExpired = func(key uint64, _ wheel.Timer) {
		if i, live := s.slots.Live(key); live {
			s.evaluate(i, s.now)
		} // else armed for a released hub whose index is reused
	}
	return s
}

func (s *hubShard) run(ctx context.Context) {
	// Park while the state loads, events too (they are signs of life
	// here, nothing to act on at once), then take everything parked in the
	// order it was handed on.
	for loading := true; loading; {
		select {
		case <-ctx.Done():
			return
		case <-s.begin:
			loading = false
		case q := <-s.rt.Lanes.Parking():
			s.rt.Lanes.Park(q)
		case q := <-s.rt.Lanes.ParkingEvents():
			s.rt.Lanes.Park(q)
		}
	}
	s.rt.Lanes.Unpark()
	for _, m := range s.replay {
		s.rt.Apply(op{kind: opMessage, msg: m})
	}
	s.replay = nil
	s.rt.Run(ctx, s.m.cfg.Clock.TickEvery(s.m.cfg.Tick))
}

// Recovered counts, logs and hands on an input whose handling panicked
// (shard.Machine; the zero op: a tick).
func (s *hubShard) Recovered(o op, r any) {
	m := o.msg
	s.m.stats.poisoned.Add(1)
	p := shard.PoisonOf(consumer, m, r)
	shard.LogPoison(s.m.log, p)
	if s.m.cfg.OnPoison != nil && m != nil {
		s.m.cfg.OnPoison(p)
	}
}

// Handle applies one input (shard.Machine).
func (s *hubShard) Handle(o op) {
	if o.kind == opControl {
		s.control(o.refresh.ctl)
		return
	}
	if s.acq.Busy() && !s.acq.Admit(o) {
		return // parked until its hub is loaded, or not held here
	}
	switch o.kind {
	case opMessage:
		s.ingest(o.msg)
		if o.msg.Readings != nil {
			o.msg.Readings.Release() // as the engine does (engineShard.Handle)
		}
	case opConnection:
		s.connection(o.conn)
	case opRefresh:
		i := s.hubIndex(o.refresh.hub.ID)
		s.hubs.At(i).flags |= fRegistered
		s.applyRegistry(i, o.refresh.hub, o.refresh.sensors, s.m.cfg.Clock.Now())
	case opAdvance:
		s.tick(o.at)
		if o.stepped != nil {
			o.stepped.Done()
		}
	}
}

func (s *hubShard) startup(start time.Time) {
	s.restartFloor = start.Add(s.m.cfg.RestartGrace).UnixMilli()
	s.wheel = wheel.New(s.m.cfg.Tick, wheel.DefaultSlots, start)
	s.nextEOLCheck = start.Add(s.m.cfg.EndOfLifeCheck)
	for i := range s.hubs.Len() {
		s.checkEndOfLife(s.hubs.At(i), start)
		s.rearm(int32(i))
	}
}

// Tick advances the wheel (shard.Machine) to the wall clock as the tick is
// handled rather than as the ticker sent it, as the monitor always has.
// (With a Clock no ticker runs: Advance's inputs move the wheel.)
func (s *hubShard) Tick(time.Time) { s.tick(s.m.cfg.Clock.Now()) }

func (s *hubShard) tick(now time.Time) {
	s.now = now
	s.wheel.Advance(now, s.onExpired)
	if !now.Before(s.nextEOLCheck) {
		for i := range s.hubs.Len() {
			s.checkEndOfLife(s.hubs.At(i), now)
		}
		s.nextEOLCheck = now.Add(s.m.cfg.EndOfLifeCheck)
	}
}

// hubIndex finds or creates a hub's state.
func (s *hubShard) hubIndex(id devices.HubID) int32 {
	if i, ok := s.index[id]; ok {
		return i
	}
	// Kept as it came, not cloned: see engineShard.homeIndex.
	i, reused := s.slots.Reuse()
	if reused {
		*s.hubs.At(i) = hubState{id: id, battery: -1}
	} else {
		i = s.hubs.Add(hubState{id: id, battery: -1})
	}
	s.index[id] = i
	return i
}

// maxSensorsPerHub bounds the sensors tracked per hub.
const maxSensorsPerHub = 64

// sensorIndex finds or adds a sensor of h; hubs have a handful, so a scan
// beats a map.
// It returns -1 past maxSensorsPerHub unregistered sensors, so that a hub
// inventing sensor ids cannot grow its state without bound.
func sensorIndex(h *hubState, id devices.SensorID) int {
	for k := range h.sensors {
		if h.sensorID(k) == id {
			return k
		}
	}
	if len(h.sensors) >= maxSensorsPerHub {
		return -1
	}
	h.sensors = shard.AppendTight(h.sensors, sensorState{name: h.own.Name(id), battery: -1})
	return len(h.sensors) - 1
}

// markDirty queues hub i for saving: a state change in the next round, a
// last-seen-only change in the round of its seen slot.
func (s *hubShard) markDirty(i int32, state bool) { s.dirty.Mark(i, state) }

// collect returns records of the hubs changed since they were last saved
// that are due in the round of seen slot slot (shard.EverySlot: all of them), at
// most limit of them (0: all). more says hubs may be left for the next call.
func (s *hubShard) collect(slot, limit int) (out []devices.HubHealthRecord, more bool) {
	return shard.CollectQueued(&s.dirty, slot, limit, func(i int32) devices.HubHealthRecord { return s.record(s.hubs.At(i)) })
}

// Save answers the save loop (shard.Machine).
func (s *hubShard) Save(slot, limit int) shard.SaveReply[devices.HubHealthRecord] {
	records, more := s.collect(slot, limit)
	return shard.ReplyWith(records, more, &s.pos)
}

func received(m *devices.Message) time.Time {
	switch {
	case m.Readings != nil:
		return m.Readings.Received
	case m.Event != nil:
		return m.Event.Received
	case m.Accel != nil:
		return m.Accel.Received
	case m.Status != nil:
		return m.Status.Received
	case m.Heartbeat != nil:
		return m.Heartbeat.Received
	case m.CmdAck != nil:
		return m.CmdAck.Received
	}
	return time.Now()
}

func (s *hubShard) ingest(m *devices.Message) {
	i := s.hubIndex(m.Hub)
	h := s.hubs.At(i)
	if m.Event != nil {
		if !s.pos.Take(m.Event, &h.applied) {
			return // applied before the health was saved
		}
		s.markDirty(i, false) // the position is saved with the hub
	}
	if h.is(fDisabled) {
		return
	}
	recv := received(m)
	if m.Status != nil && m.Status.State == devices.HubOffline {
		// A last will. While the broker reports the hub connected it is
		// stale: an old session's will arriving after a reconnect.
		if !h.is(fConnected) {
			s.goOffline(i, recv)
		}
		s.rearm(i)
		return
	}
	if h.is(fConnected) || recv.UnixMilli() > h.lastDisconnect {
		s.seen(i, recv)
	} // else read before the hub's disconnect and handed on after it (the
	// broker's workers and its disconnect report run side by side): not a
	// sign of life, or the hub would look online again until its heartbeat
	// was missed.
	h = s.hubs.At(i)
	if hub, r, ok := m.HubClock(); ok {
		s.clock(i, hub.Sub(r), r)
	}
	switch {
	case m.Readings != nil:
		// Translate the hub's reading times to the gateway's clock with this
		// batch's skew; a store-and-forwarded reading shows the sensor alive
		// when it was taken, not now.
		skew := m.Readings.SentAt.Sub(m.Readings.Received)
		for k := range m.Readings.Readings {
			r := &m.Readings.Readings[k]
			si := s.sensorSeen(i, r.Sensor, r.At.Add(-skew), recv)
			switch r.Metric {
			case devices.MetricBattery:
				if si >= 0 {
					s.battery(i, si, r.Value, r.At, r)
				}
			case devices.MetricMains:
				s.power(i, r.Value == 1, r.At, "", r)
			}
		}
	case m.Event != nil:
		e := m.Event
		si := -1
		if e.Sensor != "" {
			if si = s.sensorSeen(i, e.Sensor, e.At.Add(-time.Duration(h.skewMs)*time.Millisecond), recv); si < 0 {
				break // one sensor too many: not tracked
			}
		}
		switch e.Kind {
		case devices.EventPowerLost:
			s.power(i, false, e.At, e.ID, nil)
		case devices.EventPowerRestored:
			s.power(i, true, e.At, e.ID, nil)
		case devices.EventBatteryLow:
			s.batteryEvent(i, si, e)
		case devices.EventSensorFault, devices.EventTamper:
			if si >= 0 {
				s.sensorFault(i, si, e)
			}
		}
	case m.Accel != nil:
		s.sensorSeen(i, m.Accel.Sensor, m.Accel.At.Add(-time.Duration(h.skewMs)*time.Millisecond), recv)
	case m.Status != nil:
		// A hub repeats its status on every connect (and some firmware
		// periodically): only a changed interval or firmware is news.
		// What a hub tells for the first time is saved with its last-seen
		// times (see seen); a change of what was known is state.
		if hb := int32(m.Status.HeartbeatInterval / time.Second); hb != h.heartbeatS {
			s.markDirty(i, h.heartbeatS != 0)
			h.heartbeatS = hb
		}
		// The first report of a version is saved once too, with when it
		// came (from then on it is the hub's word, not the registry's), but
		// only a changed version is urgent: a hub confirming what the
		// registry declared waits for its seen round, so the first
		// reconnect wave after an upgrade costs no extra round of writes.
		if fw := m.Status.Firmware; fw != "" && (fw != h.firmware || h.firmwareAt == 0) {
			s.markDirty(i, h.firmware != "" && fw != h.firmware)
			h.firmware, h.firmwareAt = fw, recv.UnixMilli()
		}
	}
	s.rearm(i)
}

func (s *hubShard) connection(c devices.ConnectionEvent) {
	i := s.hubIndex(c.Hub)
	h := s.hubs.At(i)
	if h.is(fDisabled) {
		return
	}
	switch {
	case c.Connected:
		h.flags |= fConnected
		h.lastConnect = c.At.UnixMilli()
		s.seen(i, c.At)
	case c.Reason == "taken_over":
		// The old session of a hub that has just connected again.
	case c.Reason == "shutdown":
		// The gateway is stopping; the hub did nothing wrong. Its heartbeat
		// deadline still stands for after the restart.
		h.flags &^= fConnected
		s.setOnline(h, false)
		s.markDirty(i, true)
	default:
		h.flags &^= fConnected
		s.goOffline(i, c.At)
	}
	s.rearm(i)
}

// seen records proof of life at t (gateway clock).
func (s *hubShard) seen(i int32, t time.Time) {
	h := s.hubs.At(i)
	ms := t.UnixMilli()
	firstEver := h.lastSeen == 0
	if ms > h.lastSeen {
		h.lastSeen = ms
		s.markDirty(i, false)
	}
	// A pending disconnect is not saved (a restart forgets it anyway).
	// Coming online again is saved with the last-seen times, not in the
	// next round: a restart treats every hub as reconnecting anyway, an
	// open hub_offline is state when it resolves, and a fleet reconnecting
	// after a restart would otherwise be 300,000 records in the few rounds
	// of its connect wave. A hub seen for the first time ever is saved in
	// the next round: until it is, a crash would leave it without a
	// last-seen, and a hub that then never came back would never be missed.
	h.flags &^= fOfflinePending
	if !h.is(fOnline) {
		s.setOnline(h, true)
		h.onlineSince = ms
		s.markDirty(i, firstEver)
	}
}

func (s *hubShard) setOnline(h *hubState, on bool) {
	if h.is(fOnline) == on {
		return
	}
	h.set(fOnline, on)
	if on {
		s.m.stats.hubsOnline.Add(1)
	} else {
		s.m.stats.hubsOnline.Add(-1)
	}
}

// goOffline starts the grace period of a disconnect; hub_offline fires when
// it ends without a reconnect.
func (s *hubShard) goOffline(i int32, t time.Time) {
	h := s.hubs.At(i)
	ms := t.UnixMilli()
	if h.is(fOnline) {
		h.lastDisconnect = ms
		s.setOnline(h, false)
	}
	if !h.has(hubOffline) && !h.is(fOfflinePending) {
		h.flags |= fOfflinePending
		h.offlineSince = ms
	}
	s.markDirty(i, true)
}

// sensorSeen records a sensor's sign of life at its own time at (already on
// the gateway clock), capped at the receive time; it clears sensor_silent.
func (s *hubShard) sensorSeen(i int32, id devices.SensorID, at, recv time.Time) int {
	h := s.hubs.At(i)
	k := sensorIndex(h, id)
	if k < 0 {
		return -1
	}
	sn := &h.sensors[k]
	ms := min(at.UnixMilli(), recv.UnixMilli())
	if ms > sn.lastSeen {
		sn.lastSeen = ms
		s.markDirty(i, false)
	}
	if sn.has(sensorSilent) {
		silent := time.Duration(ms-sn.since[sensorSilent]) * time.Millisecond
		s.resolveSensor(i, k, sensorSilent, time.UnixMilli(ms), explainSensorBack(id, silent), detectors.Evidence{})
	}
	if sn.has(sensorFaulty) && ms-sn.faultAt >= s.m.cfg.SensorFaultClear.Milliseconds() {
		s.resolveSensor(i, k, sensorFaulty, time.UnixMilli(ms), explainSensorFaultCleared(id, s.m.cfg.SensorFaultClear), detectors.Evidence{})
	}
	return k
}

func (s *hubShard) clock(i int32, skew time.Duration, at time.Time) {
	h := s.hubs.At(i)
	ms := skew.Milliseconds()
	if ms != h.skewMs {
		h.skewMs = ms
		s.markDirty(i, false)
	}
	tol := s.m.cfg.ClockSkewTolerance
	abs := skew.Abs()
	switch {
	case abs > tol && !h.has(hubClockSkew):
		s.fireHub(i, hubClockSkew, at, at, explainClockSkew(skew, tol), detectors.Evidence{Facts: []detectors.Fact{
			{Name: "clock_skew", Value: skew.Seconds(), Unit: "s"}, {Name: "tolerance", Value: tol.Seconds(), Unit: "s"}}})
	case abs <= tol/2 && h.has(hubClockSkew):
		s.resolveHub(i, hubClockSkew, at, explainClockOK(skew), detectors.Evidence{Facts: []detectors.Fact{{Name: "clock_skew", Value: skew.Seconds(), Unit: "s"}}})
	}
}

// power applies a mains state at event time at, ignoring one older than the
// last applied (a late or store-and-forwarded message).
func (s *hubShard) power(i int32, onMains bool, at time.Time, event devices.EventID, r *devices.Reading) {
	h := s.hubs.At(i)
	ms := at.UnixMilli()
	if ms < h.powerAt {
		return
	}
	h.powerAt = ms
	// A change of mains is state; learning it for the first time is not
	// (a power_lost that fires is saved as a fault): hubs report mains on
	// a schedule, and on a fresh database or after a rollout the first
	// reports of a fleet whose clocks agree come within a minute.
	switch {
	case !h.is(fPowerKnown):
		h.flags |= fPowerKnown
		h.set(fOnMains, onMains)
		s.markDirty(i, false)
	case h.is(fOnMains) != onMains:
		h.set(fOnMains, onMains)
		s.markDirty(i, true)
	}
	switch {
	case !onMains && !h.has(hubPowerLost):
		s.fireHub(i, hubPowerLost, at, at, explainPowerLost(), evidenceOf(event, r))
	case onMains && h.has(hubPowerLost):
		s.resolveHub(i, hubPowerLost, at, explainPowerRestored(time.Duration(ms-h.since[hubPowerLost])*time.Millisecond), evidenceOf(event, r))
	}
}

// battery applies a battery reading of sensor k with hysteresis. The hub's
// own battery (a sensor of kind hub) is a hub-level fault.
func (s *hubShard) battery(i int32, k int, value float64, at time.Time, r *devices.Reading) {
	h := s.hubs.At(i)
	sn := &h.sensors[k]
	ms := at.UnixMilli()
	if ms < sn.batteryAt {
		return
	}
	sn.batteryAt, sn.battery = ms, float32(value)
	s.markDirty(i, false)
	low, ok := value < s.m.cfg.BatteryLow, value >= s.m.cfg.BatteryOK
	if sn.flags&sIsHub != 0 {
		h.battery, h.batteryAt = float32(value), ms
		switch {
		case low && !h.has(hubBatteryLow):
			s.fireHub(i, hubBatteryLow, at, at, explainBatteryLow("", value), evidenceOf("", r))
		case ok && h.has(hubBatteryLow):
			s.resolveHub(i, hubBatteryLow, at, explainBatteryOK("", value), evidenceOf("", r))
		}
		return
	}
	switch {
	case low && !sn.has(sensorBatteryLow):
		s.fireSensor(i, k, sensorBatteryLow, at, at, explainBatteryLow(h.sensorID(k), value), evidenceOf("", r))
	case ok && sn.has(sensorBatteryLow):
		s.resolveSensor(i, k, sensorBatteryLow, at, explainBatteryOK(h.sensorID(k), value), evidenceOf("", r))
	}
}

// batteryEvent is a device's own low-battery report; only a battery reading
// at or above BatteryOK resolves it.
func (s *hubShard) batteryEvent(i int32, k int, e *devices.Event) {
	h := s.hubs.At(i)
	value := -1.0
	if e.HasValue {
		value = e.Value
	}
	ev := detectors.Evidence{Events: []devices.EventID{e.ID}}
	if k < 0 || h.sensors[k].flags&sIsHub != 0 {
		if !h.has(hubBatteryLow) {
			if value >= 0 {
				h.battery = float32(value)
			}
			s.fireHub(i, hubBatteryLow, e.At, e.At, explainBatteryLow("", value), ev)
		}
		return
	}
	sn := &h.sensors[k]
	if !sn.has(sensorBatteryLow) {
		if value >= 0 {
			sn.battery = float32(value)
		}
		s.fireSensor(i, k, sensorBatteryLow, e.At, e.At, explainBatteryLow(h.sensorID(k), value), ev)
	}
}

func (s *hubShard) sensorFault(i int32, k int, e *devices.Event) {
	sn := &s.hubs.At(i).sensors[k]
	// faultAt is not saved (a restart takes the episode start), so a fault
	// repeated by a sensor already faulty changes nothing a restart needs;
	// fireSensor marks the hub when the fault is new.
	sn.faultAt = max(sn.faultAt, e.At.UnixMilli())
	if !sn.has(sensorFaulty) {
		s.fireSensor(i, k, sensorFaulty, e.At, e.At, explainSensorFault(s.hubs.At(i).sensorID(k), e.Kind), detectors.Evidence{Events: []devices.EventID{e.ID}})
	}
}

func (s *hubShard) checkEndOfLife(h *hubState, now time.Time) {
	i := s.index[h.id]
	if h.is(fDisabled) {
		return
	}
	past := h.endOfLife != 0 && now.UnixMilli() >= h.endOfLife
	eol := time.UnixMilli(h.endOfLife)
	ev := detectors.Evidence{Facts: []detectors.Fact{{Name: "end_of_life", Value: float64(eol.Unix()), Unit: "unix_s"}}}
	switch {
	case past && !h.has(hubEndOfLife):
		s.fireHub(i, hubEndOfLife, eol, now, explainEndOfLife(eol), ev)
	case !past && h.has(hubEndOfLife):
		s.resolveHub(i, hubEndOfLife, now, explainEndOfLifeExtended(h.endOfLife, eol), ev)
	}
}

// heartbeatTimeout is how long h may be silent.
func (s *hubShard) heartbeatTimeout(h *hubState) time.Duration {
	if h.heartbeatS > 0 {
		return time.Duration(float64(time.Duration(h.heartbeatS)*time.Second) * s.m.cfg.HeartbeatFactor)
	}
	return s.m.cfg.HeartbeatTimeout
}

// heartbeatDeadline is 0 for a hub never seen: nothing can be said of it.
func (s *hubShard) heartbeatDeadline(h *hubState) int64 {
	if h.lastSeen == 0 {
		return 0
	}
	return max(h.lastSeen+s.heartbeatTimeout(h).Milliseconds(), s.restartFloor, h.floorMs)
}

func (s *hubShard) supervisionWindow(sn *sensorState) int64 {
	w := time.Duration(s.m.cfg.SupervisionFactor * float64(time.Duration(sn.reportS)*time.Second))
	return max(w, s.m.cfg.SupervisionFloor).Milliseconds()
}

// supervisionBase is when a sensor's silence starts to count: its last
// sign of life, but never before the hub itself was last back online.
func supervisionBase(h *hubState, sn *sensorState) int64 { return max(sn.lastSeen, h.onlineSince) }

// up reports whether sensors can be supervised: a hub that is offline
// silences all its sensors, which is the hub's fault, not theirs.
func up(h *hubState) bool {
	return h.is(fOnline) && !h.is(fOfflinePending) && !h.has(hubOffline) && !h.is(fDisabled)
}

// nextDeadline is the earliest moment evaluate has something to decide for
// h, or 0 for none.
func (s *hubShard) nextDeadline(h *hubState) int64 {
	if h.is(fDisabled) {
		return 0
	}
	next := int64(math.MaxInt64)
	if !h.has(hubOffline) {
		if h.is(fOfflinePending) {
			next = min(next, h.offlineSince+s.m.cfg.OfflineGrace.Milliseconds())
		}
		if d := s.heartbeatDeadline(h); d != 0 {
			next = min(next, d)
		}
	} else if h.is(fOnline) {
		next = min(next, h.onlineSince+s.m.cfg.OnlineHold.Milliseconds())
	}
	if up(h) {
		for k := range h.sensors {
			sn := &h.sensors[k]
			if sn.flags&sSupervised != 0 && !sn.has(sensorSilent) {
				next = min(next, supervisionBase(h, sn)+s.supervisionWindow(sn))
			}
		}
	}
	if next == math.MaxInt64 {
		return 0
	}
	return next
}

func (s *hubShard) rearm(i int32) {
	if s.wheel == nil {
		return // still loading; startup arms every hub
	}
	h := s.hubs.At(i)
	d := s.nextDeadline(h)
	switch {
	case d == 0:
		s.wheel.Stop(h.timer)
	case h.timer == 0:
		h.timer = s.wheel.Schedule(s.slots.Key(i), time.UnixMilli(d))
	default:
		s.wheel.Reschedule(h.timer, time.UnixMilli(d))
	}
}

// evaluate decides h's deadlines that have passed at now.
func (s *hubShard) evaluate(i int32, now time.Time) {
	h := s.hubs.At(i)
	ms := now.UnixMilli()
	if !h.has(hubOffline) {
		hb := s.heartbeatDeadline(h)
		switch {
		case h.is(fOfflinePending) && ms >= h.offlineSince+s.m.cfg.OfflineGrace.Milliseconds():
			since := time.UnixMilli(h.offlineSince)
			h.flags &^= fOfflinePending
			s.fireHub(i, hubOffline, since, now, explainDisconnected(now.Sub(since)), detectors.Evidence{Facts: []detectors.Fact{
				{Name: "disconnected_at", Value: float64(since.Unix()), Unit: "unix_s"},
				{Name: "offline_for", Value: now.Sub(since).Seconds(), Unit: "s"}}})
		case hb != 0 && ms >= hb:
			last := time.UnixMilli(h.lastSeen)
			h.flags &^= fOfflinePending
			s.setOnline(h, false)
			s.fireHub(i, hubOffline, last, now, explainNoHeartbeat(now.Sub(last)), detectors.Evidence{Facts: []detectors.Fact{
				{Name: "last_seen", Value: float64(last.Unix()), Unit: "unix_s"},
				{Name: "silent_for", Value: now.Sub(last).Seconds(), Unit: "s"},
				{Name: "heartbeat_timeout", Value: s.heartbeatTimeout(h).Seconds(), Unit: "s"}}})
		}
	} else if h.is(fOnline) && ms >= h.onlineSince+s.m.cfg.OnlineHold.Milliseconds() {
		back := time.UnixMilli(h.onlineSince)
		s.resolveHub(i, hubOffline, back, explainBackOnline(back.Sub(time.UnixMilli(h.since[hubOffline]))), detectors.Evidence{})
	}
	h = s.hubs.At(i)
	if up(h) {
		for k := range h.sensors {
			sn := &h.sensors[k]
			if sn.flags&sSupervised == 0 || sn.has(sensorSilent) {
				continue
			}
			base := supervisionBase(h, sn)
			if ms >= base+s.supervisionWindow(sn) {
				s.fireSensor(i, k, sensorSilent, time.UnixMilli(base), now,
					explainSensorSilent(h.sensorID(k), now.Sub(time.UnixMilli(base)), time.Duration(sn.reportS)*time.Second),
					detectors.Evidence{Facts: []detectors.Fact{
						{Name: "last_seen", Value: float64(time.UnixMilli(sn.lastSeen).Unix()), Unit: "unix_s"},
						{Name: "report_interval", Value: float64(sn.reportS), Unit: "s"}}})
			}
		}
	}
	s.rearm(i)
}

// applyRegistry takes what the registry says of a hub and its sensors.
func (s *hubShard) applyRegistry(i int32, hub devices.Hub, sensors []devices.Sensor, now time.Time) {
	h := s.hubs.At(i)
	h.endOfLife = 0
	if !hub.EndOfLife.IsZero() {
		h.endOfLife = hub.EndOfLife.UnixMilli()
	}
	// Only what the saved record holds makes the hub dirty: its firmware and
	// its sensor list. The rest comes from the registry again at every
	// start, so an unchanged refresh (and the fleet snapshot at start)
	// saves nothing.
	changed := false
	// Until the hub reports its firmware, the registry's declared version
	// (an admin's edit included) is what the record holds.
	if h.firmwareAt == 0 && hub.Firmware != "" && hub.Firmware != h.firmware {
		h.firmware = hub.Firmware
		changed = true
	}
	if hub.Disabled && !h.is(fDisabled) {
		s.resolveAll(i, now, explainDisabled())
		h = s.hubs.At(i)
		s.setOnline(h, false)
		h.flags |= fDisabled
	} else if !hub.Disabled {
		h.flags &^= fDisabled
	}
	// Sensors the registry no longer lists, or lists as disabled, are not
	// watched any more: their open faults end.
	listed := func(id devices.SensorID) *devices.Sensor {
		for k := range sensors {
			if sensors[k].Hub == hub.ID || sensors[k].Hub == "" {
				if sensors[k].ID == id {
					return &sensors[k]
				}
			}
		}
		return nil
	}
	for k := 0; k < len(h.sensors); k++ {
		sn := &h.sensors[k]
		reg := listed(h.sensorID(k))
		if sn.flags&sRegistered != 0 && (reg == nil || reg.Disabled) {
			for f := range sensorFaultCount {
				if sn.has(f) {
					s.resolveSensor(i, k, f, now, explainSensorRemoved(h.sensorID(k)), detectors.Evidence{})
				}
			}
			h = s.hubs.At(i)
			if reg == nil {
				h.sensors = append(h.sensors[:k], h.sensors[k+1:]...)
				changed = true
				k--
				continue
			}
		}
	}
	for _, reg := range sensors {
		tracked := len(h.sensors)
		k := sensorIndex(h, reg.ID)
		if k < 0 || len(h.sensors) > tracked {
			changed = true // a sensor the saved record does not list yet
		}
		if k < 0 { // registered sensors are always tracked
			h.sensors = shard.AppendTight(h.sensors, sensorState{name: h.own.Name(reg.ID), battery: -1})
			k = len(h.sensors) - 1
		}
		sn := &h.sensors[k]
		sn.reportS = int32(reg.ReportSeconds)
		sn.flags = sRegistered
		if !reg.Disabled && reg.ReportSeconds > 0 {
			sn.flags |= sSupervised
		}
		if reg.Kind == devices.SensorHub {
			sn.flags |= sIsHub
		}
	}
	if changed {
		s.markDirty(i, true)
	}
	s.checkEndOfLife(h, now)
	s.rearm(i)
}

func (s *hubShard) resolveAll(i int32, now time.Time, why detectors.Explanation) {
	h := s.hubs.At(i)
	for f := range hubFaultCount {
		if h.has(f) {
			s.resolveHub(i, f, now, why, detectors.Evidence{})
		}
	}
	for k := range h.sensors {
		for f := range sensorFaultCount {
			if h.sensors[k].has(f) {
				s.resolveSensor(i, k, f, now, why, detectors.Evidence{})
			}
		}
	}
}

func evidenceOf(event devices.EventID, r *devices.Reading) detectors.Evidence {
	var ev detectors.Evidence
	if event != "" {
		ev.Events = []devices.EventID{event}
	}
	if r != nil {
		ev.Readings = []devices.Reading{*r}
	}
	return ev
}

func (s *hubShard) fireHub(i int32, f int, episode, at time.Time, why detectors.Explanation, ev detectors.Evidence) {
	h := s.hubs.At(i)
	h.faults |= 1 << f
	h.since[f] = episode.UnixMilli()
	s.markDirty(i, true)
	s.emit(h, "", hubFaultCauses[f], detectors.Firing, episode, at, why, ev)
}

func (s *hubShard) resolveHub(i int32, f int, at time.Time, why detectors.Explanation, ev detectors.Evidence) {
	h := s.hubs.At(i)
	h.faults &^= 1 << f
	episode := time.UnixMilli(h.since[f])
	h.since[f] = 0
	s.markDirty(i, true)
	s.emit(h, "", hubFaultCauses[f], detectors.Resolved, episode, at, why, ev)
}

func (s *hubShard) fireSensor(i int32, k, f int, episode, at time.Time, why detectors.Explanation, ev detectors.Evidence) {
	h := s.hubs.At(i)
	sn := &h.sensors[k]
	sn.faults |= 1 << f
	sn.since[f] = episode.UnixMilli()
	s.markDirty(i, true)
	s.emit(h, h.sensorID(k), sensorFaultCauses[f], detectors.Firing, episode, at, why, ev)
}

func (s *hubShard) resolveSensor(i int32, k, f int, at time.Time, why detectors.Explanation, ev detectors.Evidence) {
	h := s.hubs.At(i)
	sn := &h.sensors[k]
	sn.faults &^= 1 << f
	episode := time.UnixMilli(sn.since[f])
	sn.since[f] = 0
	s.markDirty(i, true)
	s.emit(h, h.sensorID(k), sensorFaultCauses[f], detectors.Resolved, episode, at, why, ev)
}

func (s *hubShard) emit(h *hubState, sensor devices.SensorID, cause detectors.Cause, state detectors.State, episode, at time.Time, why detectors.Explanation, ev detectors.Evidence) {
	hub := h.id
	d := detectors.Detection{
		Epoch:       h.epoch,
		Fingerprint: detectors.Fingerprint(hub, cause, sensor, episode),
		Hub:         hub,
		Sensor:      sensor,
		Class:       detectors.ClassDeviceHealth,
		Cause:       cause,
		Priority:    detectors.PriorityLow,
		State:       state,
		Episode:     episode.UTC(),
		At:          at.UTC(),
		Explanation: why,
		Evidence:    ev,
	}
	st := &s.m.stats
	st.detections.Add(1)
	if state == detectors.Firing {
		st.faultsActive[causeIndex(cause)].Add(1)
	} else {
		st.faultsActive[causeIndex(cause)].Add(-1)
	}
	s.m.log.Debug().Str("hub_id", string(hub)).Str("sensor_id", string(sensor)).Str("cause", string(cause)).
		Str("state", string(state)).Str("fingerprint", d.Fingerprint).Msg("device health")
	s.m.cfg.Sink.Detect(d)
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// hubHealth is h as the API shows it.
func (s *hubShard) hubHealth(h *hubState) devices.HubHealth {
	hh := devices.HubHealth{
		Hub:               h.id,
		Online:            h.is(fOnline),
		LastSeen:          msTime(h.lastSeen),
		LastConnect:       msTime(h.lastConnect),
		LastDisconnect:    msTime(h.lastDisconnect),
		HeartbeatInterval: time.Duration(h.heartbeatS) * time.Second,
		PowerKnown:        h.is(fPowerKnown),
		OnMains:           h.is(fOnMains),
		Battery:           float64(h.battery),
		ClockSkew:         time.Duration(h.skewMs) * time.Millisecond,
		ClockSkewMillis:   h.skewMs,
		Firmware:          h.firmware,
		FirmwareReported:  msTime(h.firmwareAt),
		Faults:            []devices.Fault{},
		Sensors:           make([]devices.SensorHealth, len(h.sensors)),
	}
	for f := range hubFaultCount {
		if h.has(f) {
			hh.Faults = append(hh.Faults, hubFaultKinds[f])
		}
	}
	for k := range h.sensors {
		sn := &h.sensors[k]
		sh := devices.SensorHealth{Sensor: h.sensorID(k), LastSeen: msTime(sn.lastSeen), Battery: float64(sn.battery), Faults: []devices.Fault{}}
		for f := range sensorFaultCount {
			if sn.has(f) {
				sh.Faults = append(sh.Faults, sensorFaultKinds[f])
			}
		}
		hh.Sensors[k] = sh
	}
	return hh
}

// record is h as it is saved: its health and its open episodes.
func (s *hubShard) record(h *hubState) devices.HubHealthRecord {
	r := devices.HubHealthRecord{HubHealth: s.hubHealth(h), JournalApplied: h.applied, Epoch: h.epoch}
	for f := range hubFaultCount {
		if h.has(f) {
			r.Episodes = append(r.Episodes, devices.FaultEpisode{Fault: hubFaultKinds[f], Since: msTime(h.since[f])})
		}
	}
	for k := range h.sensors {
		sn := &h.sensors[k]
		for f := range sensorFaultCount {
			if sn.has(f) {
				r.Episodes = append(r.Episodes, devices.FaultEpisode{Fault: sensorFaultKinds[f], Sensor: h.sensorID(k), Since: msTime(sn.since[f])})
			}
		}
	}
	return r
}

// restore loads a saved record at start. Faults come back with their
// episodes, so they are neither forgotten nor fired again.
func (s *hubShard) restore(r *devices.HubHealthRecord, start time.Time) {
	i := s.hubIndex(r.Hub)
	h := s.hubs.At(i)
	msOf := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	h.lastSeen, h.lastConnect, h.lastDisconnect = msOf(r.LastSeen), msOf(r.LastConnect), msOf(r.LastDisconnect)
	h.heartbeatS = int32(r.HeartbeatInterval / time.Second)
	h.set(fPowerKnown, r.PowerKnown)
	h.set(fOnMains, r.OnMains)
	h.battery = float32(r.Battery)
	h.skewMs = r.ClockSkewMillis
	h.firmware, h.firmwareAt = r.Firmware, msOf(r.FirmwareReported)
	h.applied = r.JournalApplied
	h.epoch = r.Epoch
	episode := func(f devices.Fault, sensor devices.SensorID) int64 {
		for _, e := range r.Episodes {
			if e.Fault == f && e.Sensor == sensor && !e.Since.IsZero() {
				return e.Since.UnixMilli()
			}
		}
		return max(h.lastSeen, start.UnixMilli()) // saved by an older version
	}
	for _, f := range r.Faults {
		for k, kind := range hubFaultKinds {
			if kind == f {
				h.faults |= 1 << k
				h.since[k] = episode(f, "")
			}
		}
	}
	// The broker restarted with the gateway: no hub is connected yet. A hub
	// that was online counts as online since the restart, so its sensors'
	// supervision restarts too.
	if r.Online && !h.has(hubOffline) {
		s.setOnline(h, true)
		h.onlineSince = start.UnixMilli()
	}
	for _, sh := range r.Sensors {
		k := sensorIndex(h, sh.Sensor)
		if k < 0 {
			continue
		}
		sn := &h.sensors[k]
		sn.lastSeen = msOf(sh.LastSeen)
		sn.battery = float32(sh.Battery)
		for _, f := range sh.Faults {
			for x, kind := range sensorFaultKinds {
				if kind == f {
					sn.faults |= 1 << x
					sn.since[x] = episode(f, sh.Sensor)
					if x == sensorFaulty {
						sn.faultAt = sn.since[x]
					}
				}
			}
		}
	}
	for f := range hubFaultCount {
		if h.has(f) {
			s.m.stats.faultsActive[causeIndex(hubFaultCauses[f])].Add(1)
		}
	}
	for k := range h.sensors {
		for f := range sensorFaultCount {
			if h.sensors[k].has(f) {
				s.m.stats.faultsActive[causeIndex(sensorFaultCauses[f])].Add(1)
			}
		}
	}
}
