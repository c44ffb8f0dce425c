package detectors

import (
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Heart and breathing rules, on radar or wearable readings that arrive
// about once a second, each with a signal quality.
//
// A run ("below 40 bpm since ...") is broken by a gap in the readings
// longer than vitalsGap, so that two stretches with a silence between them
// never add up to "sustained". A zero is believed only with good quality
// and no movement (a moving person's heart beats; PhysioNet/CinC 2015: most
// asystole alarms are artefacts); otherwise it is sensor_signal_lost, a
// device-health detection. A number from a poor signal counts for nothing.
//
// A believed zero that the sensor stops reporting is not dropped: a radar
// that measured no beat at good quality and then said nothing more for
// AsystoleSilentFor (90 s, longer than the one-minute batch a hub may
// send, so a batching hub is never taken for a silent one) raises asystole
// all the same. The silence cannot tell us the heart beats again, and the
// sensor's last word was that it did not (a collapse may knock the radar's
// power or view; the hub's own offline alarm is device health and would
// reach nobody who can help).

const (
	vitalsGap     = 10 * time.Second
	vitalsResolve = 10 * time.Second // a normal run this long ends an episode
)

func (h *home) heart(r *ruleCtx, tr *track, v, q float32, t int64) {
	c, th := &h.core, h.th
	if c.HeartLast != 0 && t-c.HeartLast > vitalsGap.Milliseconds() {
		c.HeartLowSince, c.HeartHighSince, c.HeartZeroSince, c.HeartLostSince, c.HeartNormalSince = 0, 0, 0, 0, 0
	}
	c.HeartLast = t
	c.HeartQuality = q
	still := h.still(t, th.StillFor)
	si := int(tr.Sensor)
	ev := func() []devices.Reading { return []devices.Reading{tr.reading(h)} }
	if v == 0 {
		c.HeartLowSince, c.HeartHighSince, c.HeartNormalSince = 0, 0, 0
		if float64(q) >= th.AsystoleMinQuality && still {
			c.HeartLostSince = 0
			if d := holding(&c.HeartZeroSince, t); d >= th.AsystoleFor.Milliseconds() && !c.Eps[kAsystole].open() {
				h.openEpisode(kAsystole, c.HeartZeroSince, si)
				h.transition(r, kAsystole, Firing, PriorityCritical, t, explainAsystole(ms(d), q),
					[]Fact{{Name: "no_beat", Value: ms(d).Seconds(), Unit: "s"}, {Name: "quality", Value: float64(q)}}, ev(), nil)
			}
			return
		}
		c.HeartZeroSince = 0
		if d := holding(&c.HeartLostSince, t); d >= th.SignalLostFor.Milliseconds() && !c.Eps[kSignalLost].open() {
			h.openEpisode(kSignalLost, c.HeartLostSince, si)
			h.transition(r, kSignalLost, Firing, PriorityLow, t, explainSignalLost(tr, q, !still, ms(d)),
				[]Fact{{Name: "quality", Value: float64(q)}, {Name: "moving", Value: b2f(!still)}}, ev(), nil)
		}
		return
	}
	if float64(q) < th.VitalsMinQuality {
		return
	}
	c.HeartZeroSince, c.HeartLostSince = 0, 0
	if e := &c.Eps[kSignalLost]; e.open() {
		h.transition(r, kSignalLost, Resolved, PriorityLow, t, explainSignalBack(), nil, ev(), nil)
	}
	switch {
	case float64(v) < th.BradycardiaBPM:
		c.HeartHighSince, c.HeartNormalSince = 0, 0
		if c.HeartLowSince == 0 {
			c.HeartLowSince, c.HeartMin = t, v
		}
		c.HeartMin = min(c.HeartMin, v)
		if d := t - c.HeartLowSince; d >= th.BradycardiaFor.Milliseconds() && !c.Eps[kBradycardia].open() {
			prio := PriorityHigh
			if still {
				prio = PriorityCritical // slow and not moving: may be collapsing
			}
			h.openEpisode(kBradycardia, c.HeartLowSince, si)
			h.transition(r, kBradycardia, Firing, prio, t, explainHeart(CauseBradycardia, c.HeartMin, ms(d), still, q),
				[]Fact{{Name: "heart_rate_min", Value: float64(c.HeartMin), Unit: "bpm"}, {Name: "sustained", Value: ms(d).Seconds(), Unit: "s"}, {Name: "quality", Value: float64(q)}}, ev(), nil)
		}
	case float64(v) > th.TachycardiaBPM:
		c.HeartLowSince, c.HeartNormalSince = 0, 0
		if c.HeartHighSince == 0 {
			c.HeartHighSince, c.HeartMax = t, v
		}
		c.HeartMax = max(c.HeartMax, v)
		if d := t - c.HeartHighSince; d >= th.TachycardiaFor.Milliseconds() && !c.Eps[kTachycardia].open() {
			h.openEpisode(kTachycardia, c.HeartHighSince, si)
			h.transition(r, kTachycardia, Firing, PriorityHigh, t, explainHeart(CauseTachycardia, c.HeartMax, ms(d), still, q),
				[]Fact{{Name: "heart_rate_max", Value: float64(c.HeartMax), Unit: "bpm"}, {Name: "sustained", Value: ms(d).Seconds(), Unit: "s"}, {Name: "quality", Value: float64(q)}}, ev(), nil)
		}
	default:
		c.HeartLowSince, c.HeartHighSince = 0, 0
		if holding(&c.HeartNormalSince, t) >= vitalsResolve.Milliseconds() {
			for _, k := range [...]epKind{kBradycardia, kTachycardia, kAsystole} {
				if e := &c.Eps[k]; e.open() {
					h.transition(r, k, Resolved, Priority(e.Prio), t, explainHeartNormal(v), nil, ev(), nil)
				}
			}
		}
	}
}

// heartSilentDeadline is when a believed zero run, unreported since, turns
// into asystole (0: no such run).
func (h *home) heartSilentDeadline() int64 {
	c := &h.core
	if c.HeartZeroSince == 0 || c.Eps[kAsystole].open() {
		return 0
	}
	return c.HeartLast + h.th.AsystoleSilentFor.Milliseconds()
}

// heartSilentTick raises asystole when the sensor fell silent during a
// believed zero run (see the file comment).
func (h *home) heartSilentTick(r *ruleCtx, now int64) {
	c := &h.core
	d := h.heartSilentDeadline()
	if d == 0 || now < d {
		return
	}
	si := -1
	var readings []devices.Reading
	for k := range h.tracks {
		if tr := &h.tracks[k]; tr.Metric == mHeart && tr.At == c.HeartLast {
			si = int(tr.Sensor)
			readings = []devices.Reading{tr.reading(h)}
			break
		}
	}
	zero, silent := ms(c.HeartLast-c.HeartZeroSince), ms(d-c.HeartLast)
	h.openEpisode(kAsystole, c.HeartZeroSince, si)
	h.transition(r, kAsystole, Firing, PriorityCritical, d, explainAsystoleSilent(zero, silent, c.HeartQuality),
		[]Fact{{Name: "no_beat", Value: zero.Seconds(), Unit: "s"}, {Name: "silent", Value: silent.Seconds(), Unit: "s"},
			{Name: "quality", Value: float64(c.HeartQuality)}}, readings, nil)
	c.HeartZeroSince = 0
}

func (h *home) presence(v float32, t int64) {
	c := &h.core
	if v >= 0.5 {
		if c.Present != 1 {
			c.Present, c.PresenceSince = 1, t
		}
		return
	}
	c.Present, c.PresenceSince, c.BreathZeroSince = 0, 0, 0
}

func (h *home) respiration(r *ruleCtx, tr *track, v, q float32, t int64) {
	c, th := &h.core, h.th
	if c.BreathLast != 0 && t-c.BreathLast > vitalsGap.Milliseconds() {
		c.BreathZeroSince, c.BreathOutSince = 0, 0
	}
	c.BreathLast = t
	if float64(q) < th.VitalsMinQuality {
		return
	}
	si := int(tr.Sensor)
	ev := func() []devices.Reading { return []devices.Reading{tr.reading(h)} }
	switch {
	case v == 0:
		c.BreathOutSince = 0
		// Zero breathing means something only with somebody there, settled
		// and still; otherwise the radar simply has nobody to measure.
		settled := c.Present == 1 && t-c.PresenceSince >= th.RadarSettle.Milliseconds() && h.still(t, th.RadarSettle)
		if !settled {
			c.BreathZeroSince = 0
			return
		}
		if d := holding(&c.BreathZeroSince, t); d >= th.ApnoeaFor.Milliseconds() && !c.Eps[kApnoea].open() {
			h.openEpisode(kApnoea, c.BreathZeroSince, si)
			h.transition(r, kApnoea, Firing, PriorityCritical, t, explainApnoea(ms(d), q),
				[]Fact{{Name: "no_breathing", Value: ms(d).Seconds(), Unit: "s"}, {Name: "quality", Value: float64(q)}}, ev(), nil)
		}
	case float64(v) <= th.BreathingLow || float64(v) >= th.BreathingHigh:
		c.BreathZeroSince = 0
		if c.BreathOutSince == 0 {
			c.BreathOutSince, c.BreathMin, c.BreathMax = t, v, v
		}
		c.BreathMin, c.BreathMax = min(c.BreathMin, v), max(c.BreathMax, v)
		if d := t - c.BreathOutSince; d >= th.BreathingRateFor.Milliseconds() && !c.Eps[kBreathingRate].open() {
			h.openEpisode(kBreathingRate, c.BreathOutSince, si)
			h.transition(r, kBreathingRate, Firing, PriorityHigh, t, explainBreathingRate(c.BreathMin, c.BreathMax, v, ms(d)),
				[]Fact{{Name: "breathing_rate", Value: float64(v), Unit: "breaths/min"}, {Name: "sustained", Value: ms(d).Seconds(), Unit: "s"}}, ev(), nil)
		}
	default:
		c.BreathZeroSince, c.BreathOutSince = 0, 0
		for _, k := range [...]epKind{kApnoea, kBreathingRate} {
			if e := &c.Eps[k]; e.open() {
				h.transition(r, k, Resolved, Priority(e.Prio), t, explainBreathingNormal(v), nil, ev(), nil)
			}
		}
	}
}

func ms(d int64) time.Duration { return time.Duration(d) * time.Millisecond }

// holding returns how long a condition has held at t, the time it started
// held in *since: a condition not yet holding (0) starts at t. The vitals
// rules time their hold periods (asystole, signal lost, apnoea, back to
// normal) with it.
func holding(since *int64, t int64) int64 {
	if *since == 0 {
		*since = t
	}
	return t - *since
}
