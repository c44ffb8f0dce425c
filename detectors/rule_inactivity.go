package detectors

import "time"

// Inactivity: each home's normal by hour of day, learned from its own
// history (Cuddihy 2007; Floeck and Litz).
//
// Every activity (motion, a door, a check-in, a button) ends the current
// gap. The longest gap that began in each local hour is kept for the day;
// at local midnight each hour that saw activity folds it into an
// exponentially weighted "usual longest gap" (Gap). After LearnDays days
// the welfare limit for a gap that began in hour h is WelfareFactor x
// Gap[h] (an hour never seen active uses the longest gap of any hour),
// clamped to [WelfareMin, WelfareMax]; before that, WelfareDefault. The
// hard limit InactivityHard turns the welfare check into an emergency
// under the same fingerprint. A door opening with no motion since (past
// LeaveGrace, the resident walking out) is "out of the house": no clock
// runs. A hub offline is device health, not inactivity: no new level is
// raised while it is offline.
//
// In bed and breathing normally, as the bedroom radar measures it (see
// inBedBreathing), the welfare limit is WelfareMax: a sleeper lies still
// for hours between PIR triggers, and a learned night limit (1.5 x the
// usual longest gap, 2 h at least) is passed on some nights by chance
// alone (the soak: 16 welfare checks per 1,000 home-days, every one a
// sleeping resident). Someone in bed is watched by the breathing and heart
// rules meanwhile, and the hard limit is unchanged.

const learnWeight = 0.25 // weight of the newest day in the learned gap

func (h *home) hourOf(r *ruleCtx, t int64) int {
	return int(((t+r.tzOffsetMs)/3_600_000)%24+24) % 24
}

// activity applies one activity at t; door is an entrance door opening.
func (h *home) activity(r *ruleCtx, t int64, door bool) {
	c := &h.core
	if c.DayStart == 0 {
		c.DayStart = localMidnight(t, r.tzOffsetMs)
	}
	c.Count[h.hourOf(r, t)]++
	h.dirty |= dirtySeen
	if t <= c.LastActivity {
		r.lateApplied++ // the count is order-free; the clocks move forward only
		return
	}
	wasAway := c.Away
	switch {
	case door:
		c.Away, c.DoorAt = true, t
	case c.Away && t-c.DoorAt > h.th.LeaveGrace.Milliseconds():
		c.Away = false
	}
	if c.LastActivity != 0 && !wasAway {
		gap := float32(t-c.LastActivity) / 60000
		hr := h.hourOf(r, c.LastActivity)
		c.DayMax[hr] = max(c.DayMax[hr], gap)
	}
	c.LastActivity = t
	h.welfareMs = h.welfareLimit(r, t).Milliseconds()
	if e := &c.Eps[kInactivity]; e.open() {
		h.transition(r, kInactivity, Resolved, Priority(e.Prio), t, explainActivityResumed(time.Duration(t-e.Start)*time.Millisecond), nil, nil, nil)
	}
}

func localMidnight(t, tz int64) int64 {
	l := t + tz
	return l - ((l%dayMs)+dayMs)%dayMs - tz
}

// rollDay folds finished days into the learned baseline.
func (h *home) rollDay(r *ruleCtx, now int64) {
	c := &h.core
	if c.DayStart == 0 {
		return
	}
	for days := 0; now >= c.DayStart+dayMs; days++ {
		if days >= 30 { // a long silence: skip the empty days
			c.DayStart = localMidnight(now, r.tzOffsetMs)
			break
		}
		for hr := range c.DayMax {
			if c.DayMax[hr] > 0 {
				if c.Gap[hr] == 0 {
					c.Gap[hr] = c.DayMax[hr]
				} else {
					c.Gap[hr] += learnWeight * (c.DayMax[hr] - c.Gap[hr])
				}
			}
			c.DayMax[hr] = 0
			c.Count[hr] *= 1 - learnWeight
		}
		c.Days++
		c.DayStart += dayMs
		h.dirty |= dirtySeen
	}
}

// welfareLimit is how long a gap that began at last may run before the
// welfare check.
func (h *home) welfareLimit(r *ruleCtx, last int64) time.Duration {
	c, th := &h.core, h.th
	if int(c.Days) < th.LearnDays {
		return min(th.WelfareDefault, th.InactivityHard)
	}
	g := c.Gap[h.hourOf(r, last)]
	if g == 0 {
		for _, x := range c.Gap {
			g = max(g, x)
		}
	}
	limit := time.Duration(float64(g)*th.WelfareFactor*60) * time.Second
	return min(max(limit, th.WelfareMin), th.WelfareMax, th.InactivityHard)
}

// inactivityDeadline is the event time of the next level, 0 for none.
// The learned limit needs the time zone, so it is cached in welfareMs
// whenever the last activity changes.
func (h *home) inactivityDeadline() int64 {
	c := &h.core
	if c.LastActivity == 0 || c.Away {
		return 0
	}
	switch c.Eps[kInactivity].Level {
	case 0:
		return max(c.LastActivity+h.welfareMs, c.InactivityHold)
	case 1:
		return max(c.LastActivity+h.th.InactivityHard.Milliseconds(), c.InactivityHold)
	}
	return 0
}

func (h *home) inactivityTick(r *ruleCtx, now int64) {
	c, th := &h.core, h.th
	if c.LastActivity == 0 || c.Away || c.HubOffline || now < c.InactivityHold {
		return
	}
	h.welfareMs = h.welfareLimit(r, c.LastActivity).Milliseconds()
	if h.inBedBreathing(now) {
		h.welfareMs = max(h.welfareMs, th.WelfareMax.Milliseconds())
	}
	e := &c.Eps[kInactivity]
	quiet := now - c.LastActivity
	if e.Level == 0 && quiet >= h.welfareMs {
		e = h.openEpisode(kInactivity, c.LastActivity, -1)
		e.Level = 1
		h.transition(r, kInactivity, Firing, PriorityMedium, c.LastActivity+h.welfareMs,
			explainInactivity(ms(quiet), ms(h.welfareMs), int(c.Days) >= th.LearnDays, false),
			[]Fact{{Name: "inactive", Value: ms(quiet).Minutes(), Unit: "min"}, {Name: "limit", Value: ms(h.welfareMs).Minutes(), Unit: "min"}}, nil, nil)
	}
	if e.Level == 1 && quiet >= th.InactivityHard.Milliseconds() {
		e.Level = 2
		prio := PriorityHigh
		h.transition(r, kInactivity, Firing, prio, c.LastActivity+th.InactivityHard.Milliseconds(),
			explainInactivity(ms(quiet), th.InactivityHard, true, true),
			[]Fact{{Name: "inactive", Value: ms(quiet).Minutes(), Unit: "min"}, {Name: "limit", Value: th.InactivityHard.Minutes(), Unit: "min"}}, nil, nil)
	}
}

// inBedBreathRecent is how fresh the radar's last breathing reading must be
// for inBedBreathing: past a one-minute batch, with a minute to spare.
const inBedBreathRecent = 2 * time.Minute

// inBedBreathing reports whether the radar sees the resident present, has
// measured breathing within inBedBreathRecent of now, and no run of
// abnormal breathing (none, or out of band) is under way.
func (h *home) inBedBreathing(now int64) bool {
	c := &h.core
	return c.Present == 1 && c.BreathLast != 0 && now-c.BreathLast <= inBedBreathRecent.Milliseconds() &&
		c.BreathZeroSince == 0 && c.BreathOutSince == 0
}
