package fall

import (
	"fmt"
	"time"
)

// Config holds the fall detector's thresholds. Every field is physically
// meaningful; docs/detection.md ("Falls") records how the defaults were chosen
// and the subject-wise cross-validation that checks them.
type Config struct {
	// CutoffHz is the low-pass cut-off applied to each axis before the
	// horizontal-variability and posture features: 5 Hz, as in the SisFall
	// paper (human movement lies below it; impacts' ringing above it).
	CutoffHz float64

	// ImpactG is the least sample-vector magnitude sqrt(x²+y²+z²) of an
	// impact: a peak at or above it opens (and extends) an episode. Bourke et
	// al. use 2.8 g as a stand-alone upper threshold; here later stages reject
	// the everyday motion that also crosses it (DOMAIN.md: at 2.5 g alone
	// stumbles, jumps and jogging trigger every time), so it sits lower to
	// keep soft falls (fainting from a chair). Tuned by subject-wise CV.
	ImpactG float64

	// HorizontalStdG is the least horizontal-plane standard deviation
	// sqrt(var(x)+var(z)) of the low-passed signal, over a 1 s window ending
	// within ±HorizontalSpan of the impact, for an episode to be a fall
	// candidate (SisFall's best feature; tuned by subject-wise CV).
	HorizontalStdG float64
	// HorizontalSpan is how far from the last impact the 1 s window may end.
	HorizontalSpan time.Duration

	// PostWindow is how long after the last impact peak the decision is made:
	// the posture and stillness are measured over its final PostMeasure. It is
	// the detector's latency floor.
	PostWindow  time.Duration
	PostMeasure time.Duration

	// PreEnd and PreMeasure place the "before the fall" posture window: it
	// ends PreEnd before the first impact peak and lasts PreMeasure. A fall
	// takes about 0.5-1 s from loss of balance to impact (Bourke et al.), so
	// the window ends before it began.
	PreEnd     time.Duration
	PreMeasure time.Duration

	// UprightTiltDeg and UprightLookback are the pre-event posture condition:
	// a fall starts from standing or sitting, so at some moment in the
	// UprightLookback before the first impact peak the trunk (averaged over
	// 0.5 s) was within UprightTiltDeg of vertical. Someone already lying
	// (turning over in bed, SisFall D14) never is.
	UprightTiltDeg  float64
	UprightLookback time.Duration

	// BedImpactG and BedTurnDeg are what a fall that starts lying (out of
	// bed, off a sofa) needs instead of the upright start: a harder impact
	// than turning over on a mattress, and the trunk turned by at least
	// BedTurnDeg. Tuned by subject-wise CV on FallAllD (falls from bed and
	// turning while lying; docs/detection.md).
	BedImpactG float64
	BedTurnDeg float64
	// BedImpactMS, when positive, is another way for a fall from lying to
	// pass the impact test: the speed the impact took away (Features.ImpactMS,
	// the low-passed magnitude above 1 g integrated) at least this. A sensor
	// clipping at ±2 g or sampling at 20 Hz reads a fall out of bed's peak
	// under BedImpactG; its integral survives (docs/detection.md).
	BedImpactMS float64

	// ControlledMinG, ControlledImpactMS and ControlledPeakG describe a
	// controlled descent from upright (lying down, sitting down heavily,
	// failing to stand and sitting back), which is not a fall: no free-fall
	// phase (the least low-passed magnitude in the second before the impact,
	// Features.MinG, at least ControlledMinG), a soft landing (ImpactMS under
	// ControlledImpactMS) and a low peak (under ControlledPeakG). All three
	// must hold. ControlledMinG 0 turns the rule off. Tuned by subject-wise
	// CV on FallAllD and SisFall (docs/detection.md).
	ControlledMinG     float64
	ControlledImpactMS float64
	ControlledPeakG    float64

	// BackWhereBeganDeg, when positive: an episode from upright that ends
	// within this angle of the still posture the wearer held just before it
	// (the latest still half second in the UprightLookback, Features.BackDeg)
	// is not a fall: someone who tried to stand up from a chair and dropped
	// back into it ends where they began (FallAllD's "fail to stand up"
	// ends 2° from it; falls end 28° or more from any still posture before
	// them). Tuned by subject-wise CV among off, 20° and 30°
	// (docs/detection.md).
	BackWhereBeganDeg float64

	// LyingTiltDeg is the least angle between the body's long axis (the
	// protocol's y) and vertical after the episode: the wearer ends lying or
	// half-lying, as after every SisFall fall, not standing or sitting up.
	// Tuned by CV among 40° and 50° (Bourke et al. use 60° of posture change).
	LyingTiltDeg float64

	// OrientationChangeDeg is the least angle between the gravity direction
	// before and after the episode: a sanity check that the trunk did turn
	// (lying down in bed before the episode is not a fall).
	OrientationChangeDeg float64

	// StillG is the most residual motion after the episode, sqrt of the summed
	// per-axis variances of the low-passed signal over PostMeasure: a person
	// who jogs on or walks on after a stumble moves far more (walking is about
	// 0.2-0.3 g, lying after the SisFall falls below 0.05 g).
	StillG float64

	// MaxEpisode bounds an impact episode: peaks that keep coming (jogging)
	// keep extending it; past this length the episode restarts from the latest
	// peak so the pre-fall window stays inside the ring buffer.
	MaxEpisode time.Duration

	// RecoverAngleDeg and RecoverHold define "up again" after a fall: the
	// gravity direction back within RecoverAngleDeg of its pre-fall direction
	// for RecoverHold. Commercial auto-alerts wait ~30 s for exactly this.
	RecoverAngleDeg float64
	RecoverHold     time.Duration

	// Refractory is how long after a fall no new fall is reported unless the
	// wearer recovered first: struggling on the floor is the same fall.
	Refractory time.Duration

	// MaxGap is the longest silence between chunks that is bridged without a
	// reset (clock jitter, a lost packet); longer gaps reset the tracker.
	MaxGap time.Duration

	// MinRateHz and MaxRateHz bound the accepted sample rates: below 20 Hz a
	// 5 Hz low-pass is meaningless, above 400 Hz is outside the protocol.
	MinRateHz, MaxRateHz int
}

// DefaultConfig returns the thresholds chosen by subject-wise
// cross-validation on SisFall SA01-SA12 and FallAllD FA01-FA08
// (docs/detection.md, "Falls").
func DefaultConfig() *Config {
	return &Config{
		CutoffHz:             5,
		ImpactG:              1.5,
		HorizontalStdG:       0.3,
		HorizontalSpan:       time.Second,
		PostWindow:           2500 * time.Millisecond,
		PostMeasure:          time.Second,
		PreEnd:               500 * time.Millisecond,
		PreMeasure:           time.Second,
		UprightTiltDeg:       60,
		UprightLookback:      2300 * time.Millisecond,
		LyingTiltDeg:         50,
		BedImpactG:           2.0,
		BedTurnDeg:           60,
		BedImpactMS:          1.2,
		ControlledMinG:       0.75,
		ControlledImpactMS:   0.9,
		ControlledPeakG:      1.8,
		BackWhereBeganDeg:    20,
		OrientationChangeDeg: 30,
		StillG:               0.2,
		MaxEpisode:           1500 * time.Millisecond,
		RecoverAngleDeg:      30,
		RecoverHold:          2 * time.Second,
		Refractory:           30 * time.Second,
		MaxGap:               250 * time.Millisecond,
		MinRateHz:            20,
		MaxRateHz:            400,
	}
}

// Validate reports a configuration the tracker cannot run with.
func (c *Config) Validate() error {
	switch {
	case c.CutoffHz <= 0 || c.CutoffHz >= float64(c.MinRateHz)/2:
		return fmt.Errorf("fall: cutoff %g Hz must be below half the minimum rate %d Hz", c.CutoffHz, c.MinRateHz)
	case c.MinRateHz < 1 || c.MaxRateHz < c.MinRateHz:
		return fmt.Errorf("fall: rate bounds %d-%d Hz", c.MinRateHz, c.MaxRateHz)
	case c.PostMeasure <= 0 || c.PostMeasure > c.PostWindow:
		return fmt.Errorf("fall: post measure %v must be within post window %v", c.PostMeasure, c.PostWindow)
	case c.PreMeasure <= 0:
		return fmt.Errorf("fall: pre measure %v must be positive", c.PreMeasure)
	case c.HorizontalSpan < 0:
		return fmt.Errorf("fall: horizontal span %v is negative", c.HorizontalSpan)
	case c.ringSpan() > ringLen*tickDur:
		return fmt.Errorf("fall: windows need %v of history, the ring holds %v", c.ringSpan(), ringLen*tickDur)
	}
	return nil
}

// ringSpan is how much history a decision looks back at, from the tick at
// which it is made.
func (c *Config) ringSpan() time.Duration {
	back := max(c.PreEnd+c.PreMeasure, c.HorizontalSpan+time.Second, c.UprightLookback)
	return c.PostWindow + c.MaxEpisode + back + tickDur
}
