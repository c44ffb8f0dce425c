package fall

import (
	"math"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// The tracker works on a fixed 50 Hz grid of low-passed samples ("ticks"),
// whatever the wearable's rate: after a 5 Hz low-pass nothing above 25 Hz is
// left to lose, and a fixed grid keeps the ring buffer the same size at 20 Hz
// and at 400 Hz.
const (
	tickDur = 20 * time.Millisecond
	ticksPS = int(time.Second / tickDur)
	// ringLen ticks of history: 6.4 s, enough for the longest look-back of a
	// decision (Config.ringSpan).
	ringLen = 320
	// uprightWin ticks (0.5 s) average the posture before an impact.
	uprightWin = 25
	// impactTau is the time constant of the smoothing the impact peak is
	// read on: about what a 20 Hz accelerometer's own averaging leaves of a
	// spike, so thresholds hold from 20 Hz to 400 Hz.
	impactTau = 50 * time.Millisecond
)

// Fall is one detected fall.
type Fall struct {
	// Impact is the time of the largest acceleration peak of the episode.
	Impact time.Time
	// Detected is the time of the sample at which the decision was made:
	// Config.PostWindow after the episode's last impact peak.
	Detected time.Time
	// PeakG is the largest sample-vector magnitude of the episode, in g.
	PeakG float64
	// Features are the values the decision was made on.
	Features Features
	// FromLying marks a fall that started lying or half-lying (out of bed,
	// off a sofa): judged on a harder impact and a turn of the trunk, since
	// the pre-event posture cannot tell it from someone who lies on.
	FromLying bool
	// GotUp marks instead a report that the wearer is up again after the
	// fall whose Impact this is: Detected is when. It follows either a fall
	// reported before (the engine cancels that emergency) or a fall never
	// reported because the wearer kept moving on the floor until they got up
	// ("fell and got up": a welfare concern, not a 119 emergency).
	GotUp bool
	// Weak marks instead a turn out of lying that ended down and still but
	// whose impact passed neither Config.BedImpactG nor Config.BedImpactMS
	// (a sensor clipping at ±2 g reads a fall out of bed so): not a fall on
	// the wearable's word, since turning over in bed looks the same to it.
	// The engine raises it only when the radar's bed zone then reads empty.
	// The tracker keeps no state for it (no recovery is watched).
	Weak bool
}

// Features are what one impact episode was judged on; each is compared with
// the Config field of the same meaning.
type Features struct {
	PeakG                float64       // vs Config.ImpactG
	HorizontalStdG       float64       // vs Config.HorizontalStdG
	OrientationChangeDeg float64       // vs Config.OrientationChangeDeg
	PostActivityG        float64       // vs Config.StillG
	PostTiltDeg          float64       // trunk from vertical after, vs Config.LyingTiltDeg
	PreTiltDeg           float64       // most upright trunk tilt before the impact, vs Config.UprightTiltDeg
	DownTiltDeg          float64       // least upright trunk tilt from the first impact to the decision
	MinG                 float64       // least low-passed magnitude in the second before the first peak
	ImpactMS             float64       // speed the impact took away, m/s, vs Config.ControlledImpactMS and Config.BedImpactMS; only measured (else 0) for an episode that went down
	BackDeg              float64       // posture after vs the last still posture in the UprightLookback before the first peak, vs Config.BackWhereBeganDeg; -1 when there was none (or not measured: only for an episode that went down)
	Episode              time.Duration // first to last impact peak
}

// Stats counts what the tracker did with its input, for metrics.
type Stats struct {
	Chunks   uint64 // chunks used (in part or whole)
	Dropped  uint64 // chunks ignored: duplicates, stale, bad rate or empty
	Resets   uint64 // restarts after a gap, a clock step back or a rate change
	Episodes uint64 // impact episodes judged
	Falls    uint64 // falls reported
}

type tick struct {
	x, y, z float32 // low-passed acceleration, g
	peak    float32 // largest raw magnitude among the samples of this tick's bin
	peakLag int32   // how long before the tick time that peak was, ns
}

// biquad is a second-order Butterworth low-pass section (direct form II
// transposed).
type biquad struct {
	b0, b1, b2, a1, a2 float64
	z1, z2             float64
}

func newLowPass(cutoffHz float64, rateHz int) biquad {
	k := math.Tan(math.Pi * cutoffHz / float64(rateHz))
	q := math.Sqrt2 / 2
	norm := 1 / (1 + k/q + k*k)
	b0 := k * k * norm
	return biquad{b0: b0, b1: 2 * b0, b2: b0, a1: 2 * (k*k - 1) * norm, a2: (1 - k/q + k*k) * norm}
}

// settle puts the filter in its steady state for a constant input, so a
// stream does not start with a step that looks like an impact.
func (f *biquad) settle(x float64) {
	f.z2 = (f.b2 - f.a2) * x
	f.z1 = (f.b1-f.a1)*x + f.z2
}

func (f *biquad) step(x float64) float64 {
	y := f.b0*x + f.z1
	f.z1 = f.b1*x - f.a1*y + f.z2
	f.z2 = f.b2*x - f.a2*y
	return y
}

// Tracker is one wearable's streaming fall detector. It is not safe for
// concurrent use: the engine's shard that owns the home feeds it.
//
// A Tracker's size is fixed (about 7 KiB, see TestTrackerSize): a 6 s ring
// of 50 Hz ticks and a handful of scalars, at any sample rate.
type Tracker struct {
	cfg Config

	origin  time.Time // time of offset 0; every offset below is from it
	rateHz  int
	baseOff int64 // offset of sample baseIdx, ns
	baseIdx int64
	next    int64 // index of the next sample expected

	fx, fy, fz biquad
	// impact is a light per-axis smoothing (impactTau) of the raw samples
	// whose magnitude is the impact peak: it makes a peak read about the same
	// at 20 Hz as at 200 Hz, where the raw spike would be several times
	// higher (docs/detection.md, sensor rates).
	impactAvg   [3]float64
	impactAlpha float64
	prevOff     int64
	prev        [3]float64 // low-passed value of the previous sample

	ring    [ringLen]tick
	ticks   int64 // ticks emitted since the reset; tick k is at offset k*tickDur
	binPeak float32
	binOff  int64

	// posture is a slow average (0.5 s) of the low-passed vector: the
	// gravity direction, for recovery.
	posture [3]float64

	// the open impact episode, in ticks; first < 0 when none
	first, last int64

	// after a fall, until the wearer is up again
	fallAt       time.Time
	upright      [3]float64 // gravity direction before the fall
	uprightSince time.Time
	recoveredAt  time.Time
	// fromLying: the fall started lying, so "up" is the trunk near vertical
	// rather than back to its pre-fall direction.
	fromLying bool
	fallen    bool // after a fall, until the wearer is up again
	started   bool // the flags sit together so that they share one word
	// unreported: the fall went down but the wearer kept moving, so nothing
	// was reported yet; it becomes a fall once they lie still, or a GotUp
	// report once they are up. impact and impactPeak are kept for either.
	unreported bool
	impact     time.Time
	impactPeak float64

	cosRecover float64
	out        []Fall
	stats      Stats

	// onEpisode, when set, sees every judged episode (tuning and tests).
	onEpisode func(f Fall, isFall bool)
}

// NewTracker returns a tracker with its own copy of cfg (nil means
// DefaultConfig). It panics on a configuration Validate refuses: that is a
// programming error, caught by tests.
func NewTracker(cfg *Config) *Tracker {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	t := &Tracker{cfg: *cfg, first: -1, out: make([]Fall, 0, 2)}
	t.cosRecover = math.Cos(cfg.RecoverAngleDeg * math.Pi / 180)
	return t
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats { return t.stats }

// Recovered reports whether, after the last fall, the wearer was seen upright
// again (trunk back within Config.RecoverAngleDeg of its pre-fall direction for
// Config.RecoverHold) at a time after the given one. The engine asks it during
// its cancel window with the fall's Detected time.
func (t *Tracker) Recovered(after time.Time) bool {
	return !t.recoveredAt.IsZero() && t.recoveredAt.After(after)
}

// RecoveredAt returns when the wearer was last seen up again after a fall,
// or the zero time.
func (t *Tracker) RecoveredAt() time.Time { return t.recoveredAt }

// Feed runs one chunk through the detector and returns the falls decided
// during it. The returned slice is reused by the next call.
//
// Chunks are expected in order and contiguous. A chunk that repeats samples
// already seen (an MQTT redelivery) has those samples skipped; one entirely
// seen is dropped. A gap longer than Config.MaxGap, a step back in time longer
// than the ring (6 s: a restarted wearable clock) or a change of rate restarts
// the windows from the chunk; an undecided episode is then dropped, while a
// fall waiting for recovery is kept.
func (t *Tracker) Feed(c *devices.AccelChunk) []Fall {
	t.out = t.out[:0]
	n := min(len(c.X), len(c.Y), len(c.Z))
	if n == 0 || c.RateHz < t.cfg.MinRateHz || c.RateHz > t.cfg.MaxRateHz {
		t.stats.Dropped++
		return nil
	}
	skip := 0
	if !t.started || c.RateHz != t.rateHz {
		t.reset(c)
	} else {
		period := int64(time.Second) / int64(c.RateHz)
		tol := period / 2
		expected := t.offset(t.next)
		at := int64(c.At.Sub(t.origin))
		diff := at - expected
		switch {
		case diff > int64(t.cfg.MaxGap) || diff < -int64(ringLen*tickDur):
			t.reset(c)
		case diff < -tol:
			// Overlap: skip what was already seen.
			skip = int((expected - tol - at + period - 1) / period)
			if skip >= n {
				t.stats.Dropped++
				return nil
			}
			at += int64(skip) * int64(time.Second) / int64(c.RateHz)
			if at-expected > tol {
				t.baseOff, t.baseIdx = at, t.next
			}
		case diff > tol:
			// A short gap or clock jitter: follow the wearable's clock but keep
			// the filters.
			t.baseOff, t.baseIdx = at, t.next
		}
	}
	t.stats.Chunks++
	for i := skip; i < n; i++ {
		t.sample(float64(c.X[i]), float64(c.Y[i]), float64(c.Z[i]))
	}
	if len(t.out) == 0 {
		return nil
	}
	return t.out
}

func (t *Tracker) offset(idx int64) int64 {
	return t.baseOff + (idx-t.baseIdx)*int64(time.Second)/int64(t.rateHz)
}

func (t *Tracker) reset(c *devices.AccelChunk) {
	if t.started {
		t.stats.Resets++
	}
	t.started = true
	t.origin = c.At
	t.rateHz = c.RateHz
	t.baseOff, t.baseIdx, t.next = 0, 0, 0
	t.fx = newLowPass(t.cfg.CutoffHz, c.RateHz)
	t.fy, t.fz = t.fx, t.fx
	x, y, z := float64(c.X[0]), float64(c.Y[0]), float64(c.Z[0])
	t.fx.settle(x)
	t.fy.settle(y)
	t.fz.settle(z)
	t.prev = [3]float64{x, y, z}
	t.impactAvg = t.prev
	t.impactAlpha = 1 - math.Exp(-float64(time.Second)/float64(c.RateHz)/float64(impactTau))
	t.prevOff = 0
	t.posture = t.prev
	t.ticks = 0
	t.binPeak, t.binOff = 0, 0
	t.first = -1
}

// sample takes one raw sample: filters it and emits the 50 Hz ticks up to it.
func (t *Tracker) sample(x, y, z float64) {
	off := t.offset(t.next)
	t.next++
	f := [3]float64{t.fx.step(x), t.fy.step(y), t.fz.step(z)}
	a := &t.impactAvg
	a[0] += t.impactAlpha * (x - a[0])
	a[1] += t.impactAlpha * (y - a[1])
	a[2] += t.impactAlpha * (z - a[2])
	mag := float32(math.Sqrt(a[0]*a[0] + a[1]*a[1] + a[2]*a[2]))
	counted := false
	for {
		tickOff := t.ticks * int64(tickDur)
		if tickOff > off {
			break
		}
		if tickOff == off {
			t.bin(mag, off)
			counted = true
		}
		var v [3]float64
		if span := off - t.prevOff; span > 0 && tickOff > t.prevOff {
			w := float64(tickOff-t.prevOff) / float64(span)
			for a := range v {
				v[a] = t.prev[a] + w*(f[a]-t.prev[a])
			}
		} else {
			v = t.prev
			if tickOff == off {
				v = f
			}
		}
		t.tick(v, tickOff)
	}
	if !counted {
		t.bin(mag, off)
	}
	t.prev, t.prevOff = f, off
}

func (t *Tracker) bin(mag float32, off int64) {
	if mag > t.binPeak {
		t.binPeak, t.binOff = mag, off
	}
}

// tick stores one 50 Hz point and runs the episode and recovery logic on it.
func (t *Tracker) tick(v [3]float64, off int64) {
	k := t.ticks
	t.ring[k%ringLen] = tick{
		x: float32(v[0]), y: float32(v[1]), z: float32(v[2]),
		peak: t.binPeak, peakLag: int32(off - t.binOff),
	}
	peak := t.binPeak
	t.binPeak = 0
	t.ticks++

	const alpha = float64(tickDur) / float64(500*time.Millisecond)
	for a := range t.posture {
		t.posture[a] += alpha * (v[a] - t.posture[a])
	}
	now := t.origin.Add(time.Duration(off))
	if t.fallen {
		t.watchRecovery(k, now)
	}

	if peak >= float32(t.cfg.ImpactG) && !t.suppressed(now) {
		if t.first < 0 || k-t.first > ticksOf(t.cfg.MaxEpisode) {
			// A new episode, or repeated impacts (running): judge from the
			// latest one so the pre-fall window stays in the ring.
			t.first = k
		}
		t.last = k
	}
	if t.first >= 0 && k-t.last >= ticksOf(t.cfg.PostWindow) {
		t.judge(k, now)
		t.first = -1
	}
}

func ticksOf(d time.Duration) int64 { return int64(d / tickDur) }

func (t *Tracker) suppressed(now time.Time) bool {
	return t.fallen && t.recoveredAt.IsZero() && (t.unreported || now.Sub(t.fallAt) < t.cfg.Refractory)
}

// mean returns the average low-passed vector over ticks [from, to) and the
// square root of the summed per-axis variances, clipped to the history held.
func (t *Tracker) mean(from, to int64) (m [3]float64, spread float64, ok bool) {
	from = max(from, t.ticks-ringLen, 0)
	to = min(to, t.ticks)
	if to <= from {
		return m, 0, false
	}
	var s, s2 [3]float64
	for k := from; k < to; k++ {
		e := &t.ring[k%ringLen]
		for a, v := range [3]float64{float64(e.x), float64(e.y), float64(e.z)} {
			s[a] += v
			s2[a] += v * v
		}
	}
	n := float64(to - from)
	var variance float64
	for a := range m {
		m[a] = s[a] / n
		variance += max(s2[a]/n-m[a]*m[a], 0)
	}
	return m, math.Sqrt(variance), true
}

// horizontalStd returns the largest sqrt(var(x)+var(z)) over 1 s windows
// ending at ticks in [from, to].
func (t *Tracker) horizontalStd(from, to int64) float64 {
	lo := max(from-int64(ticksPS)+1, t.ticks-ringLen, 0)
	to = min(to, t.ticks-1)
	var sx, sx2, sz, sz2 float64
	best := 0.0
	for k := lo; k <= to; k++ {
		e := &t.ring[k%ringLen]
		x, z := float64(e.x), float64(e.z)
		sx, sx2, sz, sz2 = sx+x, sx2+x*x, sz+z, sz2+z*z
		if old := k - int64(ticksPS); old >= lo {
			o := &t.ring[old%ringLen]
			x, z := float64(o.x), float64(o.z)
			sx, sx2, sz, sz2 = sx-x, sx2-x*x, sz-z, sz2-z*z
		}
		if k < from {
			continue
		}
		n := float64(min(k-lo+1, int64(ticksPS)))
		mx, mz := sx/n, sz/n
		v := max(sx2/n-mx*mx, 0) + max(sz2/n-mz*mz, 0)
		best = max(best, math.Sqrt(v))
	}
	return best
}

// judge decides on the episode that ended PostWindow ago, at tick k.
func (t *Tracker) judge(k int64, now time.Time) {
	cfg := &t.cfg
	preEnd := t.first - ticksOf(cfg.PreEnd)
	pre, _, ok := t.mean(preEnd-ticksOf(cfg.PreMeasure), preEnd)
	if !ok {
		// The episode began with the stream: the oldest point is the best
		// estimate of the posture before it.
		pre, _, _ = t.mean(0, 1)
	}
	post, activity, _ := t.mean(k+1-ticksOf(cfg.PostMeasure), k+1)
	span := ticksOf(cfg.HorizontalSpan)
	peak, impactOff := t.largestPeak(t.first-span, t.last+1)
	preTilt, _ := t.tiltRange(t.first-ticksOf(cfg.UprightLookback), t.first)
	_, downTilt := t.tiltRange(t.first, k+1)
	feat := Features{
		PreTiltDeg:           preTilt,
		DownTiltDeg:          downTilt,
		PeakG:                peak,
		HorizontalStdG:       t.horizontalStd(t.first-span, t.last+span),
		OrientationChangeDeg: angleDeg(pre, post),
		PostActivityG:        activity,
		Episode:              time.Duration(t.last-t.first) * tickDur,
		PostTiltDeg:          tiltDeg(post),
		MinG:                 t.minMagnitude(t.first-int64(ticksPS), t.first+1),
	}
	feat.BackDeg = -1
	f := Fall{
		Impact:   t.origin.Add(time.Duration(impactOff)),
		Detected: now,
		PeakG:    feat.PeakG,
		Features: feat,
	}
	down := feat.PeakG >= cfg.ImpactG &&
		feat.HorizontalStdG >= cfg.HorizontalStdG &&
		feat.PostTiltDeg >= cfg.LyingTiltDeg &&
		feat.OrientationChangeDeg >= cfg.OrientationChangeDeg
	upright := feat.PreTiltDeg <= cfg.UprightTiltDeg
	if down {
		// Only an episode that went down needs it: walking and running,
		// the common episodes, never do, and skip the scan.
		feat.ImpactMS = t.impactSpeed(t.first-impactBefore, t.last+impactAfter)
		if rest, ok := t.lastStill(t.first-ticksOf(cfg.UprightLookback), t.first); ok {
			feat.BackDeg = angleDeg(rest, post)
		}
		f.Features.ImpactMS, f.Features.BackDeg = feat.ImpactMS, feat.BackDeg
	}
	// A fall from lying needs the history to show that the wearer lay
	// before it (not a stream that began mid-fall), a harder impact than
	// turning over in bed and a turn of the trunk.
	lyingTurn := !upright && t.first >= ticksOf(cfg.UprightLookback) && feat.OrientationChangeDeg >= cfg.BedTurnDeg
	f.FromLying = lyingTurn &&
		(feat.PeakG >= cfg.BedImpactG || (cfg.BedImpactMS > 0 && feat.ImpactMS >= cfg.BedImpactMS))
	// A fall out of bed ends on the floor: the landing is the trunk's last
	// big turn before it lies still. An impact followed by more than a
	// quarter turn into a still posture was not the landing (turning over in
	// bed: a push or an arm's swing, then the turn), so it is not trusted
	// alone: at most a weak report, which the bed zone decides. A wearer
	// still moving (trying to get up) has no resting posture to compare.
	if f.FromLying && down && feat.PostActivityG <= cfg.StillG && t.turnAfter(impactOff, post) > landTurnDeg {
		f.FromLying = false
	}
	// A controlled descent (lying down, sitting down heavily, failing to
	// stand and sitting back): from upright, but no free-fall phase before
	// the impact and a soft landing. Someone who lowers themself keeps
	// their weight on their legs or arms, so the magnitude never drops far
	// below 1 g, and the landing takes little speed away.
	controlled := upright && cfg.ControlledMinG > 0 && feat.MinG >= cfg.ControlledMinG &&
		feat.ImpactMS < cfg.ControlledImpactMS && feat.PeakG < cfg.ControlledPeakG
	// Back where it began: from a still posture held just before (sitting,
	// reclined in a chair), the wearer moved and ended within
	// RecoverAngleDeg of it: a failed attempt to stand up that dropped back
	// into the seat, not a fall. The still posture is looked for only in the
	// UprightLookback (2.3 s) before the impact: nobody gets up from a bed,
	// stands and falls back onto it in that time.
	backWhereBegan := upright && cfg.BackWhereBeganDeg > 0 && feat.BackDeg >= 0 && feat.BackDeg <= cfg.BackWhereBeganDeg
	down = down && !controlled && !backWhereBegan
	still := feat.PostActivityG <= cfg.StillG
	isFall := down && still && (upright || f.FromLying)
	t.stats.Episodes++
	if t.onEpisode != nil {
		t.onEpisode(f, isFall)
	}
	if down && still && lyingTurn && !f.FromLying {
		f.FromLying, f.Weak = true, true
		t.out = append(t.out, f)
		return
	}
	if !down || !(upright || f.FromLying) {
		return
	}
	// Down, and either lying still (a fall, reported now) or still moving
	// on the floor (kept unreported until they lie still or get up).
	t.fallen, t.fallAt, t.upright, t.fromLying = true, now, pre, f.FromLying
	t.uprightSince, t.recoveredAt = time.Time{}, time.Time{}
	t.impact, t.impactPeak, t.unreported = f.Impact, f.PeakG, !isFall
	if isFall {
		t.stats.Falls++
		t.out = append(t.out, f)
	}
}

// watchRecovery ends a fall once the trunk has been back near its pre-fall
// direction (near vertical after a fall from lying) for RecoverHold, and
// reports it. A fall not yet reported because the wearer kept moving is
// reported once they lie still, and forgotten after Refractory.
func (t *Tracker) watchRecovery(k int64, now time.Time) {
	if !t.recoveredAt.IsZero() {
		return
	}
	up := cosAngle(t.posture, t.upright) >= t.cosRecover
	if t.fromLying {
		up = tiltDeg(t.posture) <= t.cfg.RecoverAngleDeg
	}
	if !up {
		t.uprightSince = time.Time{}
		if t.unreported {
			t.watchStill(k, now)
		}
		return
	}
	if t.uprightSince.IsZero() {
		t.uprightSince = now
	}
	if now.Sub(t.uprightSince) >= t.cfg.RecoverHold {
		t.recoveredAt = now
		t.unreported = false
		t.out = append(t.out, Fall{Impact: t.impact, Detected: now, PeakG: t.impactPeak, FromLying: t.fromLying, GotUp: true})
	}
}

// watchStill turns a fall the wearer kept moving after into a reported one
// once they lie still for PostMeasure, checked every stillEvery ticks.
func (t *Tracker) watchStill(k int64, now time.Time) {
	const stillEvery = 10
	if now.Sub(t.fallAt) >= t.cfg.Refractory {
		t.fallen, t.unreported = false, false
		return
	}
	if k%stillEvery != 0 {
		return
	}
	post, activity, _ := t.mean(k+1-ticksOf(t.cfg.PostMeasure), k+1)
	if activity > t.cfg.StillG || tiltDeg(post) < t.cfg.LyingTiltDeg {
		return
	}
	t.unreported = false
	t.fallAt = now
	t.stats.Falls++
	t.out = append(t.out, Fall{Impact: t.impact, Detected: now, PeakG: t.impactPeak, FromLying: t.fromLying})
}

func cosAngle(a, b [3]float64) float64 {
	na := math.Sqrt(a[0]*a[0] + a[1]*a[1] + a[2]*a[2])
	nb := math.Sqrt(b[0]*b[0] + b[1]*b[1] + b[2]*b[2])
	if na == 0 || nb == 0 {
		return 1
	}
	return max(-1, min(1, (a[0]*b[0]+a[1]*b[1]+a[2]*b[2])/(na*nb)))
}

func angleDeg(a, b [3]float64) float64 { return math.Acos(cosAngle(a, b)) * 180 / math.Pi }

// tiltDeg is the angle between gravity and the body's long axis, which the
// protocol puts on y (sign per device model, so either direction counts).
func tiltDeg(g [3]float64) float64 {
	return math.Acos(math.Abs(cosAngle(g, [3]float64{0, 1, 0}))) * 180 / math.Pi
}

// minMagnitude is the least low-passed magnitude over ticks [from, to).
func (t *Tracker) minMagnitude(from, to int64) float64 {
	from = max(from, t.ticks-ringLen, 0)
	to = min(to, t.ticks)
	least := math.Inf(1)
	for k := from; k < to; k++ {
		e := &t.ring[k%ringLen]
		x, y, z := float64(e.x), float64(e.y), float64(e.z)
		least = min(least, math.Sqrt(x*x+y*y+z*z))
	}
	if math.IsInf(least, 1) {
		return 1
	}
	return least
}

// landTurnDeg is the most the trunk turns after the impact of a fall from
// lying: a quarter turn. FallAllD's falls from bed turn 3-71° after their
// peak (a roll onto the back once down), its turning over in bed that
// passes the impact test 125° (docs/detection.md, round 4).
const landTurnDeg = 90

// turnAfter is the angle between the trunk's direction around the impact
// (0.22 s, 11 ticks, centred on it) and post, the posture after.
func (t *Tracker) turnAfter(impactOff int64, post [3]float64) float64 {
	k := impactOff / int64(tickDur)
	at, _, ok := t.mean(k-5, k+6)
	if !ok {
		return 0
	}
	return angleDeg(at, post)
}

// largestPeak returns the largest raw magnitude over ticks [from, to) and its
// offset: the impact of an episode, including the run-up a restarted episode
// (MaxEpisode) left behind.
func (t *Tracker) largestPeak(from, to int64) (float64, int64) {
	from = max(from, t.ticks-ringLen, 0)
	to = min(to, t.ticks)
	var best float32
	bestOff := int64(0)
	for k := from; k < to; k++ {
		e := &t.ring[k%ringLen]
		if e.peak > best {
			best, bestOff = e.peak, k*int64(tickDur)-int64(e.peakLag)
		}
	}
	return float64(best), bestOff
}

// tiltRange returns the least and the largest trunk tilt from vertical among
// the uprightWin-tick averages of the low-passed vector that fit in ticks
// [from, to): how upright the wearer was at the most upright moment before
// an impact, and how far down they got after it. Averaging over uprightWin
// keeps the dynamic acceleration of the fall itself from passing for a
// posture.
func (t *Tracker) tiltRange(from, to int64) (least, most float64) {
	from = max(from, t.ticks-ringLen, 0)
	to = min(to, t.ticks)
	if to-from < uprightWin {
		m, _, ok := t.mean(from, to)
		if !ok {
			m, _, _ = t.mean(0, 1)
		}
		return tiltDeg(m), tiltDeg(m)
	}
	var s [3]float64
	least, most = math.Inf(1), 0
	for k := from; k < to; k++ {
		e := &t.ring[k%ringLen]
		s[0], s[1], s[2] = s[0]+float64(e.x), s[1]+float64(e.y), s[2]+float64(e.z)
		if old := k - uprightWin; old >= from {
			o := &t.ring[old%ringLen]
			s[0], s[1], s[2] = s[0]-float64(o.x), s[1]-float64(o.y), s[2]-float64(o.z)
		}
		if k-from+1 >= uprightWin {
			tilt := tiltDeg(s)
			least, most = min(least, tilt), max(most, tilt)
		}
	}
	return least, most
}

// stillSpreadG is "still" for lastStill: sitting or standing still reads
// 0.01-0.03 g over half a second of the low-passed signal, the motion of
// a fall or of getting up far more.
const stillSpreadG = 0.05

// lastStill returns the mean low-passed vector of the latest uprightWin
// ticks within [from, to) whose spread (sqrt of the summed per-axis
// variances) is at most stillSpreadG: the posture the wearer last held
// still before an impact.
func (t *Tracker) lastStill(from, to int64) ([3]float64, bool) {
	from = max(from, t.ticks-ringLen, 0)
	to = min(to, t.ticks)
	var s, s2 [3]float64
	var found [3]float64
	ok := false
	const n = float64(uprightWin)
	for k := from; k < to; k++ {
		e := &t.ring[k%ringLen]
		v := [3]float64{float64(e.x), float64(e.y), float64(e.z)}
		for a := range v {
			s[a] += v[a]
			s2[a] += v[a] * v[a]
		}
		if old := k - uprightWin; old >= from {
			o := &t.ring[old%ringLen]
			w := [3]float64{float64(o.x), float64(o.y), float64(o.z)}
			for a := range w {
				s[a] -= w[a]
				s2[a] -= w[a] * w[a]
			}
		}
		if k-from+1 < uprightWin {
			continue
		}
		var variance float64
		var m [3]float64
		for a := range m {
			m[a] = s[a] / n
			variance += max(s2[a]/n-m[a]*m[a], 0)
		}
		if variance <= stillSpreadG*stillSpreadG {
			found, ok = m, true
		}
	}
	return found, ok
}

const (
	// impactBefore and impactAfter (ticks) widen the episode for the
	// impact's speed: the low-passed high-g phase starts a little before the
	// smoothed peak crosses ImpactG and rings on after the last one.
	impactBefore = 25
	impactAfter  = 25
)

// impactSpeed integrates the low-passed magnitude above 1 g over ticks
// [from, to), its largest run: the speed the impact took away, in m/s. An
// integral, it reads about the same at 20 Hz as at 200 Hz where a peak does
// not, and a sensor clipping at ±2 g per axis loses less of it than of the
// peak (the vector magnitude still reaches 3.5 g and the run's length is
// kept).
func (t *Tracker) impactSpeed(from, to int64) float64 {
	from = max(from, t.ticks-ringLen, 0)
	to = min(to, t.ticks)
	var run, best float64
	for k := from; k < to; k++ {
		e := &t.ring[k%ringLen]
		x, y, z := float64(e.x), float64(e.y), float64(e.z)
		run = max(run+math.Sqrt(x*x+y*y+z*z)-1, 0)
		best = max(best, run)
	}
	const gTick = 9.81 * float64(tickDur) / float64(time.Second)
	return best * gTick
}
