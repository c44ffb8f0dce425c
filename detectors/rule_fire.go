package detectors

import (
	"math/bits"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Fire, CO and gas rules.
//
// Fire signals: smoke (a reading at or above SmokeObscuration, or the
// detector's own alarm), heat (the fixed 57 °C limit or a rate of rise of
// 8.3 °C/min), a CO rise above the sensor's baseline. Corroboration within
// Corroboration of each other makes a confirmed fire (P1, 119 at once):
// smoke with heat or a CO rise, smoke at two sensors or in two rooms, or
// the fixed heat limit by itself. One signal alone is unconfirmed smoke: a
// Pending window to ask the resident, then Firing at P2 if it persists.
//
// Nuisances: smoke at a kitchen or bathroom sensor while the humidity there
// rises is steam and raises nothing unless it lasts beyond SteamMax or heat
// corroborates it (a CO rise does not: gas stoves make some). Cigarette
// smoke and insecticide spray are brief spikes without heat or CO: the
// verification window sees them clear and resolves, never calling 119.

// smokeTau and friends are the baselines' time constants: slow enough that
// a fire's or a shower's rise stands out for many minutes.
const baselineTau = 30 * time.Minute

// updateBase moves the slow baseline towards v over dt.
func (t *track) updateBase(v float32, dt int64) {
	if t.At == 0 {
		t.Base = v
		return
	}
	a := float32(dt) / float32(baselineTau.Milliseconds())
	if a > 1 {
		a = 1
	}
	t.Base += (v - t.Base) * a
}

// temperature applies one in-order temperature reading.
func (h *home) temperature(r *ruleCtx, tr *track, v float32, t int64) {
	c, th := &h.core, h.th
	if float64(v) >= th.HeatFixed {
		c.HeatFixedAt, c.HeatAt = t, t
	}
	switch {
	case tr.RefAt == 0 || t-tr.RefAt > (5*time.Minute).Milliseconds():
		tr.Ref, tr.RefAt = v, t
	case t-tr.RefAt >= (30 * time.Second).Milliseconds():
		rate := (v - tr.Ref) / (float32(t-tr.RefAt) / 60000)
		if float64(rate) >= th.HeatRiseRate {
			c.HeatAt = t
			c.HeatRate = rate
		}
		if t-tr.RefAt >= time.Minute.Milliseconds() {
			tr.Ref, tr.RefAt = v, t
		}
	}
}

// co applies one in-order CO reading: the dose integrates the previous
// value over the interval (held at most 5 min), less the floor, so that
// 30 ppm never alarms and clean air slowly clears it.
func (h *home) co(r *ruleCtx, tr *track, v float32, t int64, prevV float32, prevAt int64) {
	c, th := &h.core, h.th
	if prevAt != 0 {
		dt := min(t-prevAt, (5 * time.Minute).Milliseconds())
		tr.Aux = max(0, tr.Aux+(prevV-float32(th.COFloor))*float32(dt)/60000)
	}
	if v-tr.Base >= float32(th.CORise) {
		c.CORiseAt = t
	}
	e := &c.Eps[kCO]
	switch {
	case !e.open() && float64(tr.Aux) >= th.CODose:
		start := t - int64(float64(tr.Aux)/max(1, float64(v)-th.COFloor)*60000)
		h.openEpisode(kCO, start, int(tr.Sensor))
		h.transition(r, kCO, Firing, PriorityCritical, t, explainCO(v, tr.Aux, time.Duration(t-start)*time.Millisecond),
			[]Fact{{Name: "co", Value: float64(v), Unit: "ppm"}, {Name: "dose", Value: float64(tr.Aux), Unit: "ppm·min"}},
			[]devices.Reading{tr.reading(h)}, nil)
	case e.open() && float64(v) < th.COFloor && float64(tr.Aux) < th.CODose/2:
		h.transition(r, kCO, Resolved, Priority(e.Prio), t, explainCleared(CauseCO), nil, []devices.Reading{tr.reading(h)}, nil)
	}
}

// gas applies one in-order combustible gas reading.
func (h *home) gas(r *ruleCtx, tr *track, v float32, t int64) {
	th := h.th
	e := &h.core.Eps[kGas]
	switch {
	case !e.open() && float64(v) >= th.GasLEL:
		h.openEpisode(kGas, t, int(tr.Sensor))
		h.transition(r, kGas, Firing, PriorityCritical, t, explainGas(v),
			[]Fact{{Name: "gas", Value: float64(v), Unit: "%LEL"}}, []devices.Reading{tr.reading(h)}, nil)
	case e.open() && float64(v) < th.GasLEL/2:
		h.transition(r, kGas, Resolved, Priority(e.Prio), t, explainCleared(CauseGas), nil, []devices.Reading{tr.reading(h)}, nil)
	}
}

// alarmEvent handles a detector's own alarm: gas and CO fire at once, heat
// counts as the fixed limit, smoke as a smoke reading at that sensor.
func (h *home) alarmEvent(r *ruleCtx, ev *devices.Event, si int, t, now int64) {
	c := &h.core
	switch ev.Kind {
	case devices.EventGasAlarm, devices.EventCOAlarm:
		k, cause := kGas, CauseGas
		if ev.Kind == devices.EventCOAlarm {
			k, cause = kCO, CauseCO
		}
		if e := &c.Eps[k]; !e.open() {
			h.openEpisode(k, t, si)
			h.transition(r, k, Firing, PriorityCritical, t, explainAlarmEvent(cause), nil, nil, []devices.EventID{ev.ID})
		} else if e.State == epFiring {
			h.alarmAgain(r, k, t, ev.ID)
		}
		return
	case devices.EventHeatAlarm:
		c.HeatFixedAt = max(c.HeatFixedAt, t)
		c.HeatAt = max(c.HeatAt, t)
	case devices.EventSmokeAlarm:
		if si >= 0 {
			tr := &h.tracks[h.trackIdx(si, mSmoke)]
			if t >= tr.At {
				tr.At = t
				tr.Value = max(tr.Value, float32(h.th.SmokeObscuration)*2)
				tr.Quality = -1
			}
		}
	}
	wasFiring := c.Eps[kFireConfirmed].State == epFiring
	h.fireEval(r, now)
	if wasFiring && c.Eps[kFireConfirmed].State == epFiring {
		h.alarmAgain(r, kFireConfirmed, t, ev.ID)
	}
}

// alarmAgain passes on a detector's new alarm during a firing episode of
// its kind, as a repeat carrying only the event: dispatch folds it into the
// open incident, and when a person has closed that incident while the
// episode went on (the fire "resolved" too early, a test call), the new
// alarm opens a new incident instead of being swallowed by the episode.
func (h *home) alarmAgain(r *ruleCtx, k epKind, t int64, id devices.EventID) {
	h.transition(r, k, Firing, Priority(h.core.Eps[k].Prio), t, Explanation{}, nil, nil, []devices.EventID{id})
}

func steamy(l devices.Location) bool { return l == devices.LocKitchen || l == devices.LocBathroom }

// humidRising reports whether humidity at the smoke sensor itself, or in
// its room, is rising now: the steam signature.
func (h *home) humidRising(si uint8, now int64) bool {
	loc := h.sensors[si].loc
	stale := h.th.SmokeStale.Milliseconds()
	for k := range h.tracks {
		tr := &h.tracks[k]
		if tr.Metric != mHumidity || now-tr.At > stale {
			continue
		}
		if tr.Sensor != si && h.sensors[tr.Sensor].loc != loc {
			continue
		}
		if tr.Value-tr.Base >= float32(h.th.HumidityRise) || tr.Value >= 90 {
			return true
		}
	}
	return false
}

// fireEval decides the fire episodes at now from the current signals: it
// gathers them, lets a confirmed fire take over (and resolve), and otherwise
// moves the unconfirmed-smoke episode through its verification window.
func (h *home) fireEval(r *ruleCtx, now int64) {
	s := h.smokeSignals(now)
	h.steamThatLasts(&s, now)
	h.heatAndCO(&s, now)
	if h.confirmedFire(r, &s, now) {
		return
	}
	h.unconfirmedSmoke(r, &s, now)
}

// fireSignals are the fire signals at one evaluation. A plain value on the
// stack: fireEval runs on the hot path and allocates nothing of its own.
type fireSignals struct {
	smoke, steam, plain     int    // smoke sensors at or above the limit; those read as steam; the rest
	rooms                   uint16 // rooms (locBit) with plain smoke
	newest                  int    // the track of the newest smoke reading, -1 for none
	heat, heatFixed, coRise bool   // within Corroboration of now
}

// confirmed: the fixed heat limit alone, smoke with heat or a CO rise, steam
// with heat (not a CO rise: gas stoves make some), or smoke at two sensors or
// in two rooms.
func (s *fireSignals) confirmed() bool {
	return s.heatFixed || (s.plain > 0 && (s.heat || s.coRise)) || (s.steam > 0 && s.heat) ||
		s.plain >= 2 || bits.OnesCount16(s.rooms) >= 2
}

// single is one uncorroborated fire signal: unconfirmed smoke.
func (s *fireSignals) single() bool { return s.plain > 0 || s.heat }

// any is any signal at all: while one lasts, no fire episode clears.
func (s *fireSignals) any() bool { return s.smoke > 0 || s.heat || s.coRise }

// smokeSignals counts the fresh smoke readings at or above the limit, tells
// steam (a kitchen or bathroom sensor with humidity rising) from plain
// smoke, and notes the rooms and the newest reading.
func (h *home) smokeSignals(now int64) fireSignals {
	c, th := &h.core, h.th
	stale := th.SmokeStale.Milliseconds()
	s := fireSignals{newest: -1}
	for k := range h.tracks {
		tr := &h.tracks[k]
		if tr.Metric != mSmoke || float64(tr.Value) < th.SmokeObscuration || now-tr.At > stale {
			continue
		}
		s.smoke++
		c.FireSignalAt = max(c.FireSignalAt, tr.At)
		if s.newest < 0 || tr.At > h.tracks[s.newest].At {
			s.newest = k
		}
		if steamy(h.sensors[tr.Sensor].loc.location()) && h.humidRising(tr.Sensor, now) {
			s.steam++
			continue
		}
		s.plain++
		s.rooms |= 1 << locBit(h.sensors[tr.Sensor].loc.location())
	}
	return s
}

// steamThatLasts keeps when steam alone began; steam that goes on beyond
// SteamMax counts as plain smoke after all.
func (h *home) steamThatLasts(s *fireSignals, now int64) {
	c := &h.core
	switch {
	case s.steam == 0 || s.plain > 0:
		c.SteamSince = 0
	case c.SteamSince == 0:
		c.SteamSince = now
	case now-c.SteamSince >= h.th.SteamMax.Milliseconds():
		s.plain, s.steam = s.steam, 0 // steam that does not stop is smoke after all
	}
}

// heatAndCO adds the heat and CO-rise signals seen within Corroboration.
func (h *home) heatAndCO(s *fireSignals, now int64) {
	c := &h.core
	corr := h.th.Corroboration.Milliseconds()
	recent := func(t int64) bool { return t != 0 && now-t <= corr && t <= now }
	s.heat, s.heatFixed, s.coRise = recent(c.HeatAt), recent(c.HeatFixedAt), recent(c.CORiseAt)
	if s.heat || s.coRise {
		c.FireSignalAt = max(c.FireSignalAt, c.HeatAt, c.CORiseAt)
	}
}

// confirmedFire opens the confirmed-fire episode (taking over an open
// unconfirmed one and its start) and resolves it once every signal has been
// gone for FireClear. It reports whether a confirmed fire is open: then the
// unconfirmed episode is not decided.
func (h *home) confirmedFire(r *ruleCtx, s *fireSignals, now int64) bool {
	c := &h.core
	conf, unc := &c.Eps[kFireConfirmed], &c.Eps[kSmokeUnconfirmed]
	if s.confirmed() && !conf.open() {
		start := now
		if unc.open() {
			start = unc.Start
		}
		h.openEpisode(kFireConfirmed, start, -1)
		h.transition(r, kFireConfirmed, Firing, PriorityCritical, now,
			explainFire(s.plain, s.steam, bits.OnesCount16(s.rooms), s.heat, s.heatFixed, s.coRise, c.HeatRate),
			s.facts(), h.fireEvidence(now), nil)
		if unc.open() {
			h.transition(r, kSmokeUnconfirmed, Resolved, Priority(unc.Prio), now, explainSuperseded(), nil, nil, nil)
		}
	}
	if !conf.open() {
		return false
	}
	if !s.any() && now-c.FireSignalAt >= h.th.FireClear.Milliseconds() {
		h.transition(r, kFireConfirmed, Resolved, Priority(conf.Prio), now, explainCleared(CauseFireConfirmed), nil, nil, nil)
	}
	return true
}

// unconfirmedSmoke moves the unconfirmed-smoke episode: opened Pending on a
// single signal (unless the resident cancelled it and it has not cleared),
// resolved when it clears within the window, Firing when it outlasts it,
// resolved once every signal has been gone for FireClear.
func (h *home) unconfirmedSmoke(r *ruleCtx, s *fireSignals, now int64) {
	c, th := &h.core, h.th
	unc := &c.Eps[kSmokeUnconfirmed]
	single := s.single()
	if c.FireQuiet && !single {
		c.FireQuiet = false // what the resident cancelled has cleared
	}
	switch unc.State {
	case epPending:
		switch {
		case !single:
			h.transition(r, kSmokeUnconfirmed, Resolved, Priority(unc.Prio), now, explainClearedInWindow(), nil, nil, nil)
		case now >= unc.Deadline:
			h.transition(r, kSmokeUnconfirmed, Firing, PriorityHigh, unc.Deadline,
				explainSmoke(s.plain, s.heat, c.HeatRate, time.Duration(now-unc.Start)*time.Millisecond), s.facts(), h.fireEvidence(now), nil)
		}
	case epFiring:
		if !s.any() && now-c.FireSignalAt >= th.FireClear.Milliseconds() {
			h.transition(r, kSmokeUnconfirmed, Resolved, Priority(unc.Prio), now, explainCleared(CauseSmokeUnconfirmed), nil, nil, nil)
		}
	default:
		if single && !c.FireQuiet {
			sensor := -1
			if s.newest >= 0 && s.plain > 0 {
				sensor = int(h.tracks[s.newest].Sensor)
			}
			e := h.openEpisode(kSmokeUnconfirmed, now, sensor)
			e.Deadline = now + th.SmokeVerify.Milliseconds()
			h.transition(r, kSmokeUnconfirmed, Pending, PriorityHigh, now, explainSmoke(s.plain, s.heat, c.HeatRate, 0), s.facts(), h.fireEvidence(now), nil)
		}
	}
}

// facts are the signals as the detection's facts.
func (s *fireSignals) facts() []Fact {
	return []Fact{{Name: "smoke_sensors", Value: float64(s.plain)}, {Name: "steam_sensors", Value: float64(s.steam)},
		{Name: "heat", Value: b2f(s.heat)}, {Name: "co_rise", Value: b2f(s.coRise)}}
}

// fireEvidence is up to four fresh smoke (at or above the limit),
// temperature and CO readings, the detection's evidence.
func (h *home) fireEvidence(now int64) []devices.Reading {
	th := h.th
	stale := th.SmokeStale.Milliseconds()
	var rs []devices.Reading
	for k := range h.tracks {
		tr := &h.tracks[k]
		if (tr.Metric == mSmoke || tr.Metric == mTemperature || tr.Metric == mCO) && now-tr.At <= stale && len(rs) < 4 &&
			(tr.Metric != mSmoke || float64(tr.Value) >= th.SmokeObscuration) {
			rs = append(rs, tr.reading(h))
		}
	}
	return rs
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func locBit(l devices.Location) uint {
	switch l {
	case devices.LocBedroom:
		return 1
	case devices.LocLivingRoom:
		return 2
	case devices.LocKitchen:
		return 3
	case devices.LocBathroom:
		return 4
	case devices.LocEntrance:
		return 5
	case devices.LocHallway:
		return 6
	case devices.LocUtility:
		return 7
	case devices.LocWorn:
		return 8
	}
	return 0
}
