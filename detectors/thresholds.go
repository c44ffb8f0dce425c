package detectors

import (
	"time"

	"github.com/dolbom/dolbom/internal/defaults"
)

// Thresholds are the emergency rules' limits for one resident. Zero fields
// take the defaults (DOMAIN.md sections 3 and 4) named on each field; a
// per-home override comes from EngineConfig.ThresholdsFor.
type Thresholds struct {
	// Fire and gas.
	SmokeObscuration float64       // %/ft at or above which a smoke reading counts as smoke (1.0; UL band 0.5-4.0)
	SmokeStale       time.Duration // a smoke reading counts this long without a newer one (2 min)
	HeatFixed        float64       // °C, fixed-temperature limit (57, UL 521)
	HeatRiseRate     float64       // °C per minute, rate-of-rise limit (8.3)
	CORise           float64       // ppm above the sensor's slow baseline that corroborates smoke (10)
	CODose           float64       // ppm·min above COFloor that raises CO (3600: 400 ppm in ~10 min, 150 in 30, 70 in 90)
	COFloor          float64       // ppm that never alarms (30, UL 2034); below it the dose decays
	GasLEL           float64       // %LEL at or above which gas fires (10)
	HumidityRise     float64       // %RH above the sensor's slow baseline that says "steam" (10)
	Corroboration    time.Duration // how close in time two fire signals must be to corroborate (5 min)
	SmokeVerify      time.Duration // cancel window of unconfirmed smoke (60 s)
	SteamMax         time.Duration // steam-explained smoke longer than this is smoke after all (5 min)
	FireClear        time.Duration // a fire episode resolves after this long without any fire signal (10 min)

	// Falls.
	FallCancelWindow time.Duration // cancel window before a fall goes out (30 s)

	// Heart (radar or wearable readings, about one a second).
	BradycardiaBPM     float64       // below it (40)
	BradycardiaFor     time.Duration // sustained this long (30 s)
	TachycardiaBPM     float64       // above it (140)
	TachycardiaFor     time.Duration // sustained this long (30 s)
	AsystoleFor        time.Duration // 0 bpm this long (4 s)
	AsystoleMinQuality float64       // signal quality needed to believe a 0 (0.8); below it, sensor off
	AsystoleSilentFor  time.Duration // a believed 0 and then no heart reading from the sensor this long is asystole too (90 s: past a one-minute batch)
	VitalsMinQuality   float64       // signal quality needed for any vital-sign rule (0.5)
	SignalLostFor      time.Duration // a 0 that is not believed, this long, is sensor_signal_lost (20 s)
	StillFor           time.Duration // no motion this long counts as "no movement" (30 s)

	// Breathing (radar).
	ApnoeaFor        time.Duration // no breathing this long (20 s)
	RadarSettle      time.Duration // radar needs presence and stillness this long first (20 s)
	BreathingLow     float64       // breaths/min at or below (8, NEWS2)
	BreathingHigh    float64       // breaths/min at or above (25, NEWS2)
	BreathingRateFor time.Duration // sustained this long (2 min)

	// Inactivity.
	WelfareDefault time.Duration // welfare limit until enough is learned (12 h)
	WelfareFactor  float64       // learned limit = factor x the hour's usual longest gap (1.5)
	WelfareMin     time.Duration // learned limit floor (2 h)
	WelfareMax     time.Duration // learned limit ceiling (16 h)
	LearnDays      int           // days of history before the learned limit is used (7)
	InactivityHard time.Duration // emergency after this long (24 h)
	LeaveGrace     time.Duration // motion this soon after the door opened is the resident leaving (2 min)
}

// DefaultThresholds returns the defaults.
func DefaultThresholds() Thresholds {
	var t Thresholds
	t.fill()
	return t
}

// fill sets every zero field to its default.
func (t *Thresholds) fill() {
	f := defaults.Set[float64]
	d := defaults.Set[time.Duration]
	f(&t.SmokeObscuration, 1.0)
	d(&t.SmokeStale, 2*time.Minute)
	f(&t.HeatFixed, 57)
	f(&t.HeatRiseRate, 8.3)
	f(&t.CORise, 10)
	f(&t.CODose, 3600)
	f(&t.COFloor, 30)
	f(&t.GasLEL, 10)
	f(&t.HumidityRise, 10)
	d(&t.Corroboration, 5*time.Minute)
	d(&t.SmokeVerify, time.Minute)
	d(&t.SteamMax, 5*time.Minute)
	d(&t.FireClear, 10*time.Minute)
	d(&t.FallCancelWindow, 30*time.Second)
	f(&t.BradycardiaBPM, 40)
	d(&t.BradycardiaFor, 30*time.Second)
	f(&t.TachycardiaBPM, 140)
	d(&t.TachycardiaFor, 30*time.Second)
	d(&t.AsystoleFor, 4*time.Second)
	f(&t.AsystoleMinQuality, 0.8)
	d(&t.AsystoleSilentFor, 90*time.Second)
	f(&t.VitalsMinQuality, 0.5)
	d(&t.SignalLostFor, 20*time.Second)
	d(&t.StillFor, 30*time.Second)
	d(&t.ApnoeaFor, 20*time.Second)
	d(&t.RadarSettle, 20*time.Second)
	f(&t.BreathingLow, 8)
	f(&t.BreathingHigh, 25)
	d(&t.BreathingRateFor, 2*time.Minute)
	d(&t.WelfareDefault, 12*time.Hour)
	f(&t.WelfareFactor, 1.5)
	d(&t.WelfareMin, 2*time.Hour)
	d(&t.WelfareMax, 16*time.Hour)
	defaults.Set(&t.LearnDays, 7)
	d(&t.InactivityHard, 24*time.Hour)
	d(&t.LeaveGrace, 2*time.Minute)
}
