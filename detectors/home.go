package detectors

import (
	"slices"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/wheel"
	"github.com/dolbom/dolbom/devices"
)

// This file holds one home's emergency state and the routing of inputs to
// the rules (rule_*.go). Rules are methods that take the state, one input
// and the event time "now" as arguments, and append transitions to an
// output slice: they read no clock and do no I/O, so the same code runs live,
// on a replayed day, and in the scenario tests.
//
// Times inside the state are Unix milliseconds of the hub's clock (event
// time); 0 means "never".

// epKind indexes a home's episodes, one per cause. A new cause's kind is
// appended before numKinds, never inserted or reordered: the snapshots keep
// the episodes in this order and read older ones by their count
// (engine_snapshot.go).
type epKind uint8

const (
	kFireConfirmed epKind = iota
	kSmokeUnconfirmed
	kCO
	kGas
	kFall
	kSOS
	kBradycardia
	kTachycardia
	kAsystole
	kSignalLost
	kApnoea
	kBreathingRate
	kInactivity
	numKinds
)

var kindCause = [numKinds]Cause{
	CauseFireConfirmed, CauseSmokeUnconfirmed, CauseCO, CauseGas, CauseFall, CauseSOS,
	CauseBradycardia, CauseTachycardia, CauseAsystole, CauseSensorSignalLost, CauseApnoea,
	CauseBreathingRate, CauseInactivity,
}

// Episode states.
const (
	epClosed uint8 = iota
	epPending
	epFiring
)

// Episode is one open condition of one cause. Its fields are exported only
// so that encoding/binary can persist it.
type Episode struct {
	Start    int64 // event time the condition began; part of the fingerprint
	Deadline int64 // end of a pending window
	State    uint8
	Prio     uint8
	Level    uint8 // inactivity: 1 welfare, 2 emergency; fall: 1 from lying (fallFromLying)
	Raised   bool  // already escalated for a hub going offline
	Sensor   uint8 // index+1 into the home's sensors, 0 for home-level
}

func (e *Episode) open() bool { return e.State != epClosed }

// homeCore is the fixed-size part of a home's state, persisted as is with
// encoding/binary (hence exported fields). No raw sample buffers.
type homeCore struct {
	Clock  int64 // newest event time evaluated for this home
	Offset int64 // hub clock minus gateway clock at the newest input, ms
	Eps    [numKinds]Episode

	LastMotion int64 // newest movement (PIR, motion event, moving wearable)
	HubOffline bool
	// InactivityHold: after the hub reconnects, its buffered activity gets
	// time to arrive before inactivity is judged.
	InactivityHold int64

	// Fire.
	HeatAt, HeatFixedAt, CORiseAt int64 // newest heat rise / fixed heat / CO rise
	FireSignalAt                  int64 // newest fire signal of any kind
	SteamSince                    int64 // start of steam-explained smoke
	FireQuiet                     bool  // the resident cancelled: no new unconfirmed smoke until it clears
	HeatRate                      float32

	// Heart.
	HeartLast, HeartLowSince, HeartHighSince, HeartZeroSince, HeartLostSince, HeartNormalSince int64
	HeartMin, HeartMax, HeartQuality                                                           float32

	// Breathing and presence.
	Present                                                    int8 // -1 unknown, 0 absent, 1 present
	PresenceSince, BreathLast, BreathZeroSince, BreathOutSince int64
	BreathMin, BreathMax                                       float32

	// Falls.
	FallPeak float32

	// Inactivity and the learned baseline.
	LastActivity int64
	Away         bool
	DoorAt       int64
	DayStart     int64 // local midnight of the day being recorded
	Days         uint16
	DayMax       [24]float32 // today's longest gap (minutes) that began in each hour
	Gap          [24]float32 // learned longest gap (minutes) per hour, exponentially weighted
	Count        [24]float32 // exponentially weighted activity count per hour of day
}

// Metric codes of tracks.
const (
	mOther uint8 = iota
	mSmoke
	mTemperature
	mCO
	mGas
	mHumidity
	mMotion
	mDoor
	mPresence
	mHeart
	mRespiration
	mBed // the fall rule reads it (rule_fall.go)
)

func metricCode(m devices.Metric) uint8 {
	switch m {
	case devices.MetricSmoke:
		return mSmoke
	case devices.MetricTemperature:
		return mTemperature
	case devices.MetricCO:
		return mCO
	case devices.MetricGas:
		return mGas
	case devices.MetricHumidity:
		return mHumidity
	case devices.MetricMotion:
		return mMotion
	case devices.MetricDoor:
		return mDoor
	case devices.MetricPresence:
		return mPresence
	case devices.MetricHeartRate:
		return mHeart
	case devices.MetricRespiration:
		return mRespiration
	case devices.MetricBed:
		return mBed
	}
	return mOther
}

var codeMetric = [...]devices.Metric{mSmoke: devices.MetricSmoke, mTemperature: devices.MetricTemperature,
	mCO: devices.MetricCO, mGas: devices.MetricGas, mHumidity: devices.MetricHumidity, mMotion: devices.MetricMotion,
	mDoor: devices.MetricDoor, mPresence: devices.MetricPresence, mHeart: devices.MetricHeartRate,
	mRespiration: devices.MetricRespiration, mBed: devices.MetricBed}

// track is the latest value of one metric of one sensor: its high-water
// mark (At) decides what is late, and a slow baseline tells a rise.
type track struct {
	At      int64
	RefAt   int64   // reference point of the temperature rate of rise
	Value   float32 // latest value
	Base    float32 // slow exponentially weighted baseline
	Ref     float32
	Aux     float32 // CO: accumulated dose in ppm·min above the floor
	Quality float32
	Sensor  uint8 // index into home.sensors
	Metric  uint8
}

func (t *track) reading(h *home) devices.Reading {
	return devices.Reading{Sensor: h.sensorID(int(t.Sensor)), Metric: codeMetric[t.Metric],
		At: time.UnixMilli(t.At).UTC(), Value: float64(t.Value), Quality: t.Quality}
}

// sensorInfo is one sensor of a home: four bytes without a pointer (its id
// through the home's sensorID).
type sensorInfo struct {
	name shard.Name
	loc  locCode
}

type fallTrackerSlot struct {
	sensor  shard.Name
	tracker FallTracker
	ask     gotUpAsk // a "fell and got up" the resident is being asked about (rule_fall_ask.go)
	weak    weakFall // a weak fall from lying waiting for the bed zone (rule_fall.go)
}

// home is one home's state, owned by one shard.
type home struct {
	core      homeCore
	id        devices.HubID
	th        *Thresholds
	timer     wheel.Timer
	next      int64 // the earliest deadline (event time), 0 = none
	welfareMs int64 // welfare limit for the current gap, cached
	dirty     uint8
	sensors   []sensorInfo
	own       shard.OwnIDs // ids of sensors the shared table had no room for
	tracks    []track
	trackers  []fallTrackerSlot // only homes with a wearable
	// applied is the newest journal position applied to the home (saved
	// with it): a replayed event at or below it is not applied again.
	applied int64
	// epoch is the ownership epoch this gateway holds the home under (0 on
	// a single gateway); its detections and saves carry it. floorMs is the
	// home's own restart floor (wall ms), set when a cluster acquires it.
	epoch   devices.Epoch
	floorMs int64
}

// Dirty levels: episodes are saved on the next round, activity clocks and
// learning (which change with every motion) on the slower one.
const (
	dirtySeen  uint8 = 1
	dirtyState uint8 = 2
)

// maxEngineSensors bounds the sensors tracked per home, so that a hub
// inventing sensor ids cannot grow its state without bound (indexes are
// uint8, episodes keep index+1).
const maxEngineSensors = 64

// sensorIdx finds or adds a sensor; hubs have a handful, so a scan beats a
// map. It returns -1 past the bound.
func (h *home) sensorIdx(id devices.SensorID) int {
	for k := range h.sensors {
		if h.sensorID(k) == id {
			return k
		}
	}
	if len(h.sensors) >= maxEngineSensors {
		return -1
	}
	h.sensors = shard.AppendTight(h.sensors, sensorInfo{name: h.own.Name(id), loc: codeOf(guessLocation(id))})
	return len(h.sensors) - 1
}

// sensorID is the id of the home's sensor k.
func (h *home) sensorID(k int) devices.SensorID { return h.own.ID(h.sensors[k].name) }

// guessLocation reads a room from a sensor id ("kitchen-smoke") until the
// registry says where the sensor is: hubs are installed with such names,
// and a steam rule that knows no room would treat kitchen steam as smoke.
func guessLocation(id devices.SensorID) devices.Location {
	for _, g := range locationWords {
		for _, w := range g.words {
			if strings.Contains(string(id), w) {
				return g.loc
			}
		}
	}
	return devices.LocOther
}

// locationWords are the words guessLocation looks for, in order: the first
// group with a word in the id names the room ("bath" before "bed").
var locationWords = []struct {
	words []string
	loc   devices.Location
}{
	{[]string{"kitchen"}, devices.LocKitchen},
	{[]string{"bath", "shower"}, devices.LocBathroom},
	{[]string{"bed"}, devices.LocBedroom},
	{[]string{"living"}, devices.LocLivingRoom},
	{[]string{"entrance", "door"}, devices.LocEntrance},
	{[]string{"hall"}, devices.LocHallway},
	{[]string{"wear", "pendant"}, devices.LocWorn},
}

func (h *home) trackIdx(sensor int, metric uint8) int {
	for k := range h.tracks {
		if int(h.tracks[k].Sensor) == sensor && h.tracks[k].Metric == metric {
			return k
		}
	}
	h.tracks = shard.AppendTight(h.tracks, track{Sensor: uint8(sensor), Metric: metric})
	return len(h.tracks) - 1
}

// emit is one transition a rule produced; the shard turns it into a
// Detection.
type emit struct {
	kind epKind
	// cause, when set, is a one-shot detection that keeps no episode (a
	// fall got up from): kind is then meaningless.
	cause    Cause
	state    State
	class    Class
	prio     Priority
	episode  int64
	at       int64
	sensor   devices.SensorID
	why      Explanation
	facts    []Fact
	readings []devices.Reading
	events   []devices.EventID
}

// ruleCtx carries what every rule needs besides the state: thresholds, the
// output, counters and the local time zone. It is built once per shard.
type ruleCtx struct {
	out         []emit
	tzOffsetMs  int64
	lateIgnored uint64
	lateApplied uint64
}

func (r *ruleCtx) add(e emit) { r.out = append(r.out, e) }

// transition records an episode change and appends its emission.
func (h *home) transition(r *ruleCtx, k epKind, state State, prio Priority, at int64, why Explanation, facts []Fact, readings []devices.Reading, events []devices.EventID) {
	e := &h.core.Eps[k]
	if state == Firing || state == Pending {
		e.Prio = uint8(prio)
	}
	r.add(emit{kind: k, state: state, class: h.episodeClass(k), prio: prio, episode: e.Start, at: at, sensor: h.episodeSensor(k),
		why: why, facts: facts, readings: readings, events: events})
	h.dirty |= dirtyState
	if state == Resolved || state == Cancelled {
		// Closed, keeping its start: the next episode of this kind must not
		// begin in the same second (see openEpisode).
		*e = Episode{Start: e.Start}
	} else if state == Pending {
		e.State = epPending
	} else {
		e.State = epFiring
	}
}

// episodeClass is who responds to episode k in its current level.
func (h *home) episodeClass(k epKind) Class {
	switch {
	case k == kSignalLost:
		return ClassDeviceHealth
	case k == kInactivity && h.core.Eps[k].Level < 2:
		return ClassWelfare
	}
	return ClassEmergency
}

// episodeSensor is the sensor episode k is about, or "" for the home.
func (h *home) episodeSensor(k epKind) devices.SensorID {
	if e := &h.core.Eps[k]; e.Sensor > 0 && int(e.Sensor) <= len(h.sensors) {
		return h.sensorID(int(e.Sensor) - 1)
	}
	return ""
}

// openEpisode starts an episode of kind k at start (closed before). An
// episode is told apart by its start to the second (Fingerprint): one that
// would begin in the second of the previous episode of its kind (an SOS
// pressed again right after a cancel) begins at the next second instead,
// or dispatch would fold it into the closed incident and raise nothing.
func (h *home) openEpisode(k epKind, start int64, sensor int) *Episode {
	e := &h.core.Eps[k]
	if prev := e.Start; prev != 0 && floorSecond(start) == floorSecond(prev) {
		start = floorSecond(prev) + 1000
	}
	*e = Episode{Start: start}
	if sensor >= 0 {
		e.Sensor = uint8(sensor + 1)
	}
	return e
}

// floorSecond is the start of the second of t (Unix ms), also before 1970.
func floorSecond(t int64) int64 {
	s := t / 1000
	if t%1000 < 0 {
		s--
	}
	return s * 1000
}

func (h *home) still(t int64, for_ time.Duration) bool {
	return h.core.LastMotion == 0 || t-h.core.LastMotion >= for_.Milliseconds()
}

// advance moves the home's event clock to t, first running any deadline
// that t has passed, and returns the evaluation time (never backwards).
func (h *home) advance(r *ruleCtx, t int64, floor int64) int64 {
	if t <= h.core.Clock {
		return h.core.Clock
	}
	if h.next != 0 && t >= h.next {
		h.tick(r, t, floor)
	}
	h.core.Clock = t
	return t
}

// tick evaluates every time-driven rule at now.
func (h *home) tick(r *ruleCtx, now int64, floor int64) {
	if now > h.core.Clock {
		h.core.Clock = now
	}
	h.fallTick(r, now)
	h.gotUpTick(r, now)
	h.heartSilentTick(r, now)
	if h.core.Eps[kFireConfirmed].open() || h.core.Eps[kSmokeUnconfirmed].open() {
		h.fireEval(r, now)
	}
	h.rollDay(r, now)
	if now >= floor {
		h.inactivityTick(r, now)
	}
	h.next = h.nextDeadline(floor)
}

// nextDeadline is the earliest event time at which a time-driven rule may
// change its mind; floor holds back inactivity after a gateway restart.
func (h *home) nextDeadline(floor int64) int64 {
	c := &h.core
	next := int64(0)
	at := func(t int64) {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	if e := &c.Eps[kFall]; e.State == epPending {
		at(e.Deadline)
	}
	if e := &c.Eps[kSmokeUnconfirmed]; e.State == epPending {
		at(e.Deadline)
	}
	if d := h.heartSilentDeadline(); d != 0 {
		at(d)
	}
	at(h.gotUpDeadline())
	if c.Eps[kFireConfirmed].open() || c.Eps[kSmokeUnconfirmed].open() {
		at(max(c.FireSignalAt, c.Clock) + h.th.SmokeStale.Milliseconds()/4 + 1)
	}
	if d := h.inactivityDeadline(); d != 0 {
		at(max(d, floor))
	}
	if c.DayStart != 0 {
		at(c.DayStart + dayMs)
	}
	return next
}

// hubOffline escalates every open emergency when the hub goes offline:
// the resident can no longer be asked through it, nor can the sensors tell
// us more, so a pending window ends now and a firing episode is re-emitted
// one priority higher, with the reason.
func (h *home) hubOffline(r *ruleCtx, now int64) {
	c := &h.core
	if c.HubOffline {
		return
	}
	c.HubOffline = true
	h.dirty |= dirtyState
	for k := epKind(0); k < numKinds; k++ {
		e := &c.Eps[k]
		if !e.open() || e.Raised || k == kSignalLost || (k == kInactivity && e.Level < 2) {
			continue
		}
		if (k == kSOS || k == kFall) && e.State == epFiring && now-e.Start > staleEmergency.Milliseconds() {
			continue // dispatch has long had it
		}
		prio := Priority(max(1, int(e.Prio)-1))
		e.Raised = true
		why := explainOfflineEscalation(kindCause[k], e.State == epPending)
		at := now
		h.transition(r, k, Firing, prio, at, why, []Fact{{Name: "hub_online", Value: 0}}, nil, nil)
	}
}

// staleEmergency: an SOS or fall that fired this long ago is not
// re-escalated by a later hub disconnect.
const staleEmergency = time.Hour

const dayMs = int64(24 * time.Hour / time.Millisecond)

// takeSaved takes a decoded snapshot's state into h. The weak falls it
// held go onto the wearables' slots (a slot restored without a tracker
// gets one with the wearable's next chunk).
func (h *home) takeSaved(dec *home) {
	h.core, h.sensors, h.own, h.tracks, h.applied = dec.core, dec.sensors, dec.own, dec.tracks, dec.applied
	for _, saved := range dec.trackers {
		k := slices.IndexFunc(h.trackers, func(s fallTrackerSlot) bool { return s.sensor == saved.sensor })
		if k < 0 {
			h.trackers = append(h.trackers, saved)
			continue
		}
		h.trackers[k].weak = saved.weak
	}
}
