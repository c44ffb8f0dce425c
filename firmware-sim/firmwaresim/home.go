package firmwaresim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Sensor ids of every simulated home. The registry holds them with their
// kinds and locations (Layout); the wire carries only the id.
const (
	SensorKitchenSmoke  devices.SensorID = "kitchen-smoke"
	SensorHallSmoke     devices.SensorID = "hallway-smoke" // by the bathroom: shower steam
	SensorKitchenHeat   devices.SensorID = "kitchen-heat"
	SensorCO            devices.SensorID = "utility-co"
	SensorMotionLiving  devices.SensorID = "motion-living"
	SensorMotionKitchen devices.SensorID = "motion-kitchen"
	SensorMotionBedroom devices.SensorID = "motion-bedroom"
	SensorMotionBath    devices.SensorID = "motion-bathroom"
	SensorDoor          devices.SensorID = "entrance-door"
	SensorRadar         devices.SensorID = "bedroom-radar"
	SensorWearable      devices.SensorID = "wearable-1"
	SensorPendant       devices.SensorID = "pendant-1"
	SensorHub           devices.SensorID = "hub"
)

// Layout is the sensors of every simulated home, as the registry needs them
// (Hub left empty). ReportSeconds is the supervision interval: sensors that
// report every minute get 5 minutes, the pendant (battery once an hour) 2
// hours.
func Layout() []devices.Sensor {
	s := func(id devices.SensorID, k devices.SensorKind, loc devices.Location, every int) devices.Sensor {
		return devices.Sensor{ID: id, Kind: k, Location: loc, ReportSeconds: every}
	}
	return []devices.Sensor{
		s(SensorKitchenSmoke, devices.SensorSmoke, devices.LocKitchen, 300),
		s(SensorHallSmoke, devices.SensorSmoke, devices.LocHallway, 300),
		s(SensorKitchenHeat, devices.SensorHeat, devices.LocKitchen, 300),
		s(SensorCO, devices.SensorCO, devices.LocUtility, 300),
		s(SensorMotionLiving, devices.SensorMotion, devices.LocLivingRoom, 300),
		s(SensorMotionKitchen, devices.SensorMotion, devices.LocKitchen, 300),
		s(SensorMotionBedroom, devices.SensorMotion, devices.LocBedroom, 300),
		s(SensorMotionBath, devices.SensorMotion, devices.LocBathroom, 300),
		s(SensorDoor, devices.SensorDoor, devices.LocEntrance, 300),
		s(SensorRadar, devices.SensorRadar, devices.LocBedroom, 300),
		s(SensorWearable, devices.SensorWearable, devices.LocWorn, 0), // off the body while out of range: not supervised
		s(SensorPendant, devices.SensorSOSButton, devices.LocWorn, 7200),
		s(SensorHub, devices.SensorHub, devices.LocOther, 0),
	}
}

// span is a stretch of a day in minutes after local midnight.
type span struct{ start, end int16 }

func (s span) has(m int) bool { return s.end > s.start && m >= int(s.start) && m < int(s.end) }

// progress is how far into the span minute m is, 0 to 1.
func (s span) progress(m int) float64 {
	return float64(m-int(s.start)) / float64(max(1, int(s.end-s.start)))
}

// dayPlan is one day of a resident's routine, drawn from the home's seed and
// the day number, so any minute of any day can be recomputed on demand and a
// hub keeps only today's plan.
type dayPlan struct {
	day          int64
	wake, sleep  int16
	meals        [3]span
	smoky        [3]bool
	shower       span
	outing       span
	visitor      span
	nightBath    span
	nap          span // an afternoon nap on the sofa: still, and not in bed
	baseHR       float32
	sleepBreaths float32
}

// Home is a resident and their sensors. It is deterministic: Readings and
// Events depend only on the seed, the home's index and the minute asked.
type Home struct {
	Seed  uint64
	Index uint32
	// IDPrefix starts every event id this home makes, so that two runs
	// against one gateway never reuse an id (protocol section 7.2).
	IDPrefix string
	plan     dayPlan
	planned  bool
	// Faults injected by scenarios: mains off, battery drain, silenced
	// sensors, the wearable taken off.
	MainsOff     bool
	HubBattery   float32
	Silenced     []devices.SensorID
	WearableOff  bool
	BatteryDrain float32 // % per minute taken off the pendant's battery
	pendantDrain float32
	// VitalsEvery, when set, streams the radar's and the wearable's vital
	// signs at this interval (the soak: 6 s) instead of one a minute.
	VitalsEvery time.Duration
	// Injected are emergencies and device faults placed at known times
	// (see PlanInjections), oldest first; the soak finds them again.
	Injected []Injection
}

// kst is the residents' local time: routines follow the local day.
var kst = time.FixedZone("KST", 9*3600)

func (h *Home) rng(day int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(h.Seed^uint64(h.Index)*0x9e3779b97f4a7c15, uint64(day)<<8|stream))
}

func (h *Home) planFor(day int64) *dayPlan {
	if h.planned && h.plan.day == day {
		return &h.plan
	}
	r := h.rng(day, 0)
	in := func(lo, hi int) int16 { return int16(lo + r.IntN(hi-lo+1)) }
	p := dayPlan{day: day}
	p.wake = in(330, 450)
	p.sleep = in(1260, 1380)
	hr := rand.New(rand.NewPCG(h.Seed, uint64(h.Index)))
	p.baseHR = float32(58 + hr.IntN(16))
	p.sleepBreaths = float32(11 + hr.Float64()*4)
	b := p.wake + in(15, 60)
	p.meals[0] = span{b, b + in(15, 30)}
	l := in(690, 780)
	p.meals[1] = span{l, l + in(20, 40)}
	d := in(1050, 1140)
	p.meals[2] = span{d, d + in(25, 45)}
	for i := range p.smoky {
		p.smoky[i] = r.Float64() < 0.15
	}
	if r.Float64() < 0.6 {
		s := p.wake + in(5, 12)
		if r.Float64() < 0.4 {
			s = in(1170, 1230)
		}
		p.shower = span{s, s + in(8, 20)}
	}
	if r.Float64() < 0.7 {
		o := in(560, 900)
		p.outing = span{o, o + in(40, 180)}
	}
	if r.Float64() < 0.2 {
		v := in(840, 1000)
		p.visitor = span{v, v + in(30, 90)}
	}
	if r.Float64() < 0.5 {
		n := in(120, 240)
		p.nightBath = span{n, n + in(3, 8)}
	}
	for _, busy := range [...]span{p.shower, p.outing, p.visitor} {
		p.cookAfter(busy)
	}
	// Drawn last, so that the rest of a day is what it was before naps.
	if r.Float64() < 0.5 {
		n := in(840, 900)
		p.nap = span{n, n + in(30, 120)}
		for _, meal := range p.meals {
			if meal.start < p.nap.end && meal.end > p.nap.start {
				p.nap = span{} // lunch came late: no nap today
			}
		}
	}
	h.plan, h.planned = p, true
	return &h.plan
}

// cookAfter moves a meal that overlaps busy (a shower, an outing, a visit) to just
// after it: cooking starts when the resident does, so the kitchen warms
// from cold instead of jumping to mid-meal heat in one minute (a jump the
// heat rate-of-rise rule rightly takes for a fire).
func (p *dayPlan) cookAfter(busy span) {
	for i, meal := range p.meals {
		if meal.start < busy.end && meal.end > busy.start {
			p.meals[i] = span{busy.end + 5, busy.end + 5 + meal.end - meal.start}
		}
	}
}

// activity is what the resident is doing in one minute.
type activity uint8

const (
	actSleep activity = iota
	actRest
	actActive
	actCook
	actShower
	actBath
	actOut
	actVisitor
	actNap
	actStill // an injected emergency: lying still (see Injection)
)

func (p *dayPlan) at(m int) (activity, int) {
	switch {
	case p.outing.has(m):
		return actOut, -1
	case p.nightBath.has(m):
		return actBath, -1
	case m < int(p.wake) || m >= int(p.sleep):
		return actSleep, -1
	case p.shower.has(m):
		return actShower, -1
	case p.visitor.has(m):
		return actVisitor, -1
	case p.nap.has(m):
		return actNap, -1
	}
	for i, meal := range p.meals {
		if meal.has(m) {
			return actCook, i
		}
	}
	if m%90 < 55 {
		return actActive, -1
	}
	return actRest, -1
}

func dayAndMinute(t time.Time) (int64, int) {
	l := t.In(kst)
	y, mo, d := l.Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	return day, l.Hour()*60 + l.Minute()
}

func (h *Home) silenced(id devices.SensorID) bool {
	for _, s := range h.Silenced {
		if s == id {
			return true
		}
	}
	return false
}

// Readings appends to dst the readings measured in the minute starting at t
// (t is truncated to the minute).
func (h *Home) Readings(dst []devices.Reading, t time.Time) []devices.Reading {
	t = t.Truncate(time.Minute)
	day, m := dayAndMinute(t)
	p := h.planFor(day)
	act, meal := p.at(m)
	inj := h.active(t)
	if inj != nil && inj.Kind.emergency() {
		act = actStill
	}
	r := h.rng(day, 1+uint64(m)<<1)
	add := func(id devices.SensorID, metric devices.Metric, v float64, q float32) {
		if h.silenced(id) || inj.silences(id) {
			return
		}
		dst = append(dst, devices.Reading{Sensor: id, Metric: metric, At: t.Add(time.Duration(r.IntN(59000)) * time.Millisecond),
			Value: math.Round(v*10) / 10, Quality: q})
	}
	noise := func(s float64) float64 { return r.NormFloat64() * s }

	// Kitchen: cooking warms the air and the steam raises humidity; one
	// meal in seven burns a little (smoke below the 0.5 %/ft alarm band).
	temp, hum, smoke := 22.0+noise(0.2), 45.0+noise(1), 0.02+math.Abs(noise(0.01))
	if act == actCook {
		pr := p.meals[meal].progress(m)
		rise := 7 * math.Sin(math.Pi*math.Min(1, pr*1.2))
		temp += rise
		hum += 15 * math.Sin(math.Pi*pr)
		if p.smoky[meal] && pr > 0.4 && pr < 0.8 {
			smoke = 0.2 + 0.2*r.Float64()
		}
	}
	if inj != nil && inj.Kind == InjectFire {
		// A pan left on the stove: smoke in the alarm band, heat rising
		// past the fixed limit within ten minutes.
		since := t.Sub(inj.At).Minutes()
		smoke = 2.5 + 0.1*r.Float64()
		temp = math.Min(90, 30+6*since)
	}
	add(SensorKitchenSmoke, devices.MetricSmoke, smoke, -1)
	add(SensorKitchenSmoke, devices.MetricTemperature, temp, -1)
	add(SensorKitchenSmoke, devices.MetricHumidity, hum, -1)
	add(SensorKitchenHeat, devices.MetricTemperature, temp+noise(0.3), -1)
	hallHum := 50 + noise(1)
	if act == actShower {
		hallHum += 30 * math.Sin(math.Pi*p.shower.progress(m))
	}
	add(SensorHallSmoke, devices.MetricSmoke, 0.02+math.Abs(noise(0.01)), -1)
	add(SensorHallSmoke, devices.MetricTemperature, 22+noise(0.2), -1)
	add(SensorHallSmoke, devices.MetricHumidity, hallHum, -1)
	add(SensorCO, devices.MetricCO, math.Max(0, 1+noise(1)), -1)

	// Motion by room.
	motion := [4]float64{} // living, kitchen, bedroom, bathroom
	switch act {
	case actSleep:
		if r.Float64() < 0.05 {
			motion[2] = 1
		}
	case actRest:
		motion[0] = float64(r.IntN(3))
	case actActive:
		motion[r.IntN(2)] = float64(1 + r.IntN(6))
	case actCook:
		motion[1] = float64(3 + r.IntN(8))
	case actShower, actBath:
		motion[3] = float64(1 + r.IntN(4))
	case actNap:
		if r.Float64() < 0.1 { // turning over on the sofa
			motion[0] = 1
		}
	case actVisitor:
		motion[0] = float64(4 + r.IntN(10))
	}
	add(SensorMotionLiving, devices.MetricMotion, motion[0], -1)
	add(SensorMotionKitchen, devices.MetricMotion, motion[1], -1)
	add(SensorMotionBedroom, devices.MetricMotion, motion[2], -1)
	add(SensorMotionBath, devices.MetricMotion, motion[3], -1)
	door := 0.0
	if act != actStill && p.outing.has(m) && (m == int(p.outing.start) || m == int(p.outing.end)-1) {
		door = 1
	}
	add(SensorDoor, devices.MetricDoor, door, -1)

	// Heart rate and breathing follow sleep and activity.
	hr := float64(p.baseHR)
	switch act {
	case actSleep:
		hr -= 6
	case actActive, actShower, actVisitor:
		hr += 12
	case actCook:
		hr += 15
	}
	hr += noise(2)
	inBed := act == actSleep || act == actStill && inj.inBed()
	if inj != nil && inj.Kind == InjectCardiac {
		hr = 30 + noise(1) // extreme bradycardia
	}
	if act == actNap {
		hr -= 4
	}
	if h.VitalsEvery > 0 {
		// Streamed, one every VitalsEvery in time order: the rules break
		// a run at a 10 s gap, so only a stream can show one sustained.
		vital := func(id devices.SensorID, metric devices.Metric, k int, v float64, q float32) {
			if h.silenced(id) {
				return
			}
			dst = append(dst, devices.Reading{Sensor: id, Metric: metric, At: t.Add(time.Duration(k)*h.VitalsEvery + time.Duration(r.IntN(900))*time.Millisecond),
				Value: math.Round(v*10) / 10, Quality: q})
		}
		wearable := act != actOut && !h.WearableOff
		onTable := inj != nil && inj.Kind == FaultWearableOnTable
		if inBed {
			add(SensorRadar, devices.MetricPresence, 1, -1)
		} else {
			add(SensorRadar, devices.MetricPresence, 0, -1)
		}
		for k := range int(time.Minute / h.VitalsEvery) {
			if inBed {
				vital(SensorRadar, devices.MetricHeartRate, k, hr+noise(1), float32(0.75+0.2*r.Float64()))
				breaths := float64(p.sleepBreaths) + noise(0.5)
				if inj != nil && inj.Kind == InjectBreathing {
					breaths = 5 + noise(0.3) // NEWS2: <= 8 a minute
				}
				vital(SensorRadar, devices.MetricRespiration, k, breaths, float32(0.7+0.25*r.Float64()))
			}
			switch {
			case onTable:
				// No skin under it: a zero of poor quality, as cheap wearables send.
				vital(SensorWearable, devices.MetricHeartRate, k, 0, float32(0.1+0.1*r.Float64()))
			case wearable:
				vital(SensorWearable, devices.MetricHeartRate, k, hr+noise(1), float32(0.8+0.15*r.Float64()))
			}
		}
	} else {
		if inBed {
			add(SensorRadar, devices.MetricPresence, 1, -1)
			add(SensorRadar, devices.MetricHeartRate, hr, float32(0.75+0.2*r.Float64()))
			add(SensorRadar, devices.MetricRespiration, float64(p.sleepBreaths)+noise(0.5), float32(0.7+0.25*r.Float64()))
		} else {
			add(SensorRadar, devices.MetricPresence, 0, -1)
		}
		if act != actOut && !h.WearableOff {
			add(SensorWearable, devices.MetricHeartRate, hr+noise(1), float32(0.8+0.15*r.Float64()))
		}
	}

	// Batteries and mains: once an hour, and the hub's every 10 minutes.
	if m%60 == 0 {
		wear := 100 - float64(((m-int(p.wake)+1440)%1440)/20) // charged overnight
		add(SensorWearable, devices.MetricBattery, math.Max(5, wear), -1)
		add(SensorKitchenSmoke, devices.MetricBattery, 87, -1)
		add(SensorHallSmoke, devices.MetricBattery, 91, -1)
		add(SensorMotionLiving, devices.MetricBattery, 78, -1)
		add(SensorDoor, devices.MetricBattery, 82, -1)
	}
	if h.BatteryDrain > 0 {
		h.pendantDrain += h.BatteryDrain
	}
	if m%60 == 0 || h.BatteryDrain > 0 {
		level := math.Max(0, 95-float64(h.pendantDrain))
		if inj != nil && inj.Kind == FaultBatteryLow {
			level = 12 // the pendant's cell is running out until replaced
		}
		add(SensorPendant, devices.MetricBattery, level, -1)
	}
	if m%10 == 0 || h.MainsOff {
		mains, batt := 1.0, 100.0
		if h.MainsOff {
			mains = 0
			h.HubBattery = float32(math.Max(0, float64(h.HubBattery)-0.5))
			batt = float64(h.HubBattery)
		}
		add(SensorHub, devices.MetricMains, mains, -1)
		add(SensorHub, devices.MetricBattery, batt, -1)
	}
	return dst
}

// Events appends to dst the events that happen in the minute starting at t:
// the entrance door at outings and visits, the first movement after the
// night. Ids are derived from the minute, so a replayed minute gives the
// same ids (and the gateway stores the event once).
func (h *Home) Events(dst []devices.Event, t time.Time) []devices.Event {
	t = t.Truncate(time.Minute)
	day, m := dayAndMinute(t)
	p := h.planFor(day)
	r := h.rng(day, 2+uint64(m)<<1)
	add := func(k devices.EventKind, sensor devices.SensorID, seq int) {
		if h.silenced(sensor) {
			return
		}
		dst = append(dst, devices.Event{ID: devices.EventID(fmt.Sprintf("%sd%d-%d-%d", h.IDPrefix, day, m, seq)), Kind: k, Sensor: sensor,
			At: t.Add(time.Duration(seq*12000+r.IntN(10000)) * time.Millisecond)})
	}
	// seq keeps ids unique when an outing and a visit touch one minute.
	inj := h.active(t)
	still := inj != nil && inj.Kind.emergency()
	door := func(s span, seq int) {
		if !still && (m == int(s.start) || m == int(s.end)-1) {
			add(devices.EventDoorOpen, SensorDoor, seq)
			add(devices.EventDoorClose, SensorDoor, seq+1)
		}
	}
	if p.outing.end > p.outing.start {
		door(p.outing, 0)
	}
	if p.visitor.end > p.visitor.start {
		door(p.visitor, 2)
	}
	if m == int(p.wake) && !still {
		add(devices.EventMotion, SensorMotionBedroom, 0)
	}
	if inj != nil && t.Equal(inj.At.Truncate(time.Minute)) {
		switch inj.Kind {
		case InjectFall:
			dst = append(dst, devices.Event{ID: devices.EventID(fmt.Sprintf("%sd%d-%d-fall", h.IDPrefix, day, m)), Kind: devices.EventFall,
				Sensor: SensorWearable, At: inj.At, Value: 3.4, HasValue: true})
		case InjectSOS:
			dst = append(dst, devices.Event{ID: devices.EventID(fmt.Sprintf("%sd%d-%d-sos", h.IDPrefix, day, m)), Kind: devices.EventSOS,
				Sensor: SensorPendant, At: inj.At})
		}
	}
	return dst
}
