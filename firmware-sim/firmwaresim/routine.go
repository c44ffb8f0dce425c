package firmwaresim

import (
	"math/rand/v2"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// InjectKind is what an Injection puts into a home's day.
type InjectKind string

// Emergencies, each a resident who then lies still until helped (the
// Injection's End), and device faults, each lasting until End.
const (
	InjectFire      InjectKind = "fire"           // a pan left on the stove: smoke, then heat past 57 °C
	InjectFall      InjectKind = "fall"           // the wearable's fall event, then no getting up
	InjectSOS       InjectKind = "sos"            // the pendant pressed
	InjectCardiac   InjectKind = "cardiac"        // heart rate 30 in bed (radar and wearable)
	InjectBreathing InjectKind = "breathing"      // 5 breaths a minute in bed (radar)
	InjectStill     InjectKind = "stopped_moving" // collapsed out of sight of every sensor but the clock

	FaultBatteryLow      InjectKind = "battery_low"            // the pendant's cell at 12 %
	FaultSensorSilent    InjectKind = "sensor_silent"          // the living-room PIR stops reporting
	FaultWearableOnTable InjectKind = "wearable_left_on_table" // a zero heart rate of poor quality
)

// Emergencies and Faults list the kinds PlanInjections draws from.
var (
	Emergencies = []InjectKind{InjectFire, InjectFall, InjectSOS, InjectCardiac, InjectBreathing, InjectStill}
	Faults      = []InjectKind{FaultBatteryLow, FaultSensorSilent, FaultWearableOnTable}
)

func (k InjectKind) emergency() bool {
	switch k {
	case InjectFire, InjectFall, InjectSOS, InjectCardiac, InjectBreathing, InjectStill:
		return true
	}
	return false
}

// Emergency reports whether k is an emergency (not a device fault).
func (k InjectKind) Emergency() bool { return k.emergency() }

// Injection is one emergency or fault in a home's simulated days, from At
// (to the second) until End, when help arrived or the fault was fixed.
type Injection struct {
	Kind InjectKind
	At   time.Time
	End  time.Time
}

func (in *Injection) silences(id devices.SensorID) bool {
	return in != nil && in.Kind == FaultSensorSilent && id == SensorMotionLiving
}

// inBed reports whether the resident lies in bed during the injection
// (the radar sees them): the night emergencies.
func (in *Injection) inBed() bool {
	return in != nil && (in.Kind == InjectCardiac || in.Kind == InjectBreathing)
}

// active returns the injection under way in the minute starting at t.
func (h *Home) active(t time.Time) *Injection {
	for i := range h.Injected {
		in := &h.Injected[i]
		if !t.Before(in.At.Truncate(time.Minute)) && t.Before(in.End) {
			return in
		}
	}
	return nil
}

// lasting is how long each kind lasts: an emergency until help comes (for
// a resident who stopped moving, long past the detectors' 24-hour limit
// only if nobody acted), a fault until fixed.
var lasting = map[InjectKind]time.Duration{
	InjectFire: time.Hour, InjectFall: 2 * time.Hour, InjectSOS: time.Hour, InjectCardiac: time.Hour,
	InjectBreathing: time.Hour, InjectStill: 26 * time.Hour,
	FaultBatteryLow: 24 * time.Hour, FaultSensorSilent: 12 * time.Hour, FaultWearableOnTable: 10 * time.Hour,
}

// PlanInjections places emergencies and faults in the home's days from
// start (local midnight) for days days: each day an emergency with
// probability emergencyRate and a fault with faultRate, at a time when it
// can happen (cardiac and breathing at night in bed; the others while the
// resident is up and at home), never overlapping the previous one, and
// each over before the last day ends (so that it can be found). It
// depends only on the seed and the home's index, and sets h.Injected.
func (h *Home) PlanInjections(start time.Time, days int, emergencyRate, faultRate float64) []Injection {
	r := rand.New(rand.NewPCG(h.Seed^0x5eed_50a4, uint64(h.Index)))
	var out []Injection
	free, end := start, start.Add(time.Duration(days)*24*time.Hour)
	for d := range days {
		dayStart := start.Add(time.Duration(d) * 24 * time.Hour)
		if r.Float64() < emergencyRate {
			k := Emergencies[r.IntN(len(Emergencies))]
			if at, ok := h.placeAt(dayStart, k, r); ok && !at.Before(free) && !at.Add(lasting[k]).After(end) {
				out = append(out, Injection{Kind: k, At: at, End: at.Add(lasting[k])})
				free = at.Add(lasting[k] + time.Hour)
			}
		}
		if r.Float64() < faultRate {
			k := Faults[r.IntN(len(Faults))]
			at := dayStart.Add(time.Duration(480+r.IntN(600))*time.Minute + time.Duration(r.IntN(60))*time.Second)
			if !at.Before(free) && !at.Add(lasting[k]).After(end) {
				out = append(out, Injection{Kind: k, At: at, End: at.Add(lasting[k])})
				free = at.Add(lasting[k] + time.Hour)
			}
		}
	}
	h.Injected = out
	return out
}

// placeAt picks a minute of the day at which k can happen in this home's
// plan: asleep for the night kinds, up, at home and not out for the others.
func (h *Home) placeAt(dayStart time.Time, k InjectKind, r *rand.Rand) (time.Time, bool) {
	for range 20 {
		m := r.IntN(1440)
		t := dayStart.Add(time.Duration(m) * time.Minute)
		day, lm := dayAndMinute(t)
		act, _ := h.planFor(day).at(lm)
		ok := act == actActive || act == actRest || act == actCook
		if k == InjectCardiac || k == InjectBreathing {
			ok = act == actSleep && lm < 300 // deep in the night, well before waking
		}
		if k == InjectFire {
			ok = act == actCook
		}
		if ok {
			return t.Add(time.Duration(5+r.IntN(50)) * time.Second), true
		}
	}
	return time.Time{}, false
}
