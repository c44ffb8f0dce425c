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

	// ImpactG is the sample-vector magnitude sqrt(x²+y²+z²) that opens (and
	// extends) an impact episode. Bourke et al. use 2.8 g as a stand-alone
	// upper threshold; here it is only the trigger, so it is set lower to keep
	// soft falls (fainting, sliding off a chair), and later stages reject the
	// everyday motion that also crosses it.
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

	// OrientationChangeDeg is the least angle between the gravity direction
	// before and after the episode: Bourke et al. use 60° for "lying after
	// impact"; tuned by CV since sitting-to-lying falls start upright too.
	OrientationChangeDeg float64

	// StillG is the most residual motion after the episode, sqrt of the summed
	// per-axis variances of the low-passed signal over PostMeasure: a person
	// who jogs on, walks on or stands up after a stumble moves far more.
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
// cross-validation on SisFall SA01-SA12 (docs/detection.md, "Falls").
func DefaultConfig() *Config {
	return &Config{
		CutoffHz:             5,
		ImpactG:              1.6,
		HorizontalStdG:       0.25,
		HorizontalSpan:       time.Second,
		PostWindow:           2500 * time.Millisecond,
		PostMeasure:          time.Second,
		PreEnd:               500 * time.Millisecond,
		PreMeasure:           time.Second,
		OrientationChangeDeg: 40,
		StillG:               0.15,
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
	back := max(c.PreEnd+c.PreMeasure, c.HorizontalSpan+time.Second)
	return c.PostWindow + c.MaxEpisode + back + tickDur
}
