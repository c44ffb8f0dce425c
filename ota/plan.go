// Package ota runs firmware rollouts: it sends the firmware_update command
// (docs/protocol.md section 11.3) to a model's hubs in stages, a small
// canary first, judges each stage from the hubs' acknowledgements, and halts
// by itself when too many installs fail or too many hubs do not come back.
//
// The decisions are pure functions of counts and time (Plan.Stages, Judge);
// Engine applies them, keeping its state durable through Store so that a
// gateway restarted mid-rollout carries on where it stopped.
package ota

import (
	"fmt"
	"math"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Plan is how a rollout advances.
type Plan struct {
	// Canary is the fraction of the hubs in the first stage (0.01 is 1%);
	// at least one hub.
	Canary float64 `json:"canary"`
	// HaltOn halts the rollout when the failed installs plus the hubs that
	// did not come back exceed this fraction of a stage's hubs.
	HaltOn float64 `json:"halt_on"`
	// Waves are the cumulative fractions reached after the canary, ending
	// at 1 (DefaultWaves when empty).
	Waves []float64 `json:"waves"`
	// StageTimeout is how long a stage's hubs have to report "running"
	// before those that have not are counted as not back.
	StageTimeout time.Duration `json:"stage_timeout"`
}

// DefaultWaves follow the canary: a tenth, a half, then everyone.
var DefaultWaves = []float64{0.1, 0.5, 1}

// DefaultStageTimeout leaves a hub time to download over a slow uplink,
// install and reboot; a hub silent that long after the command is lost to
// the rollout.
const DefaultStageTimeout = 30 * time.Minute

// Validate refuses a plan that cannot run (wrapping devices.ErrInvalid) and
// fills the defaults.
func (p *Plan) Validate() error {
	if len(p.Waves) == 0 {
		// The default waves that the canary has not already covered.
		for _, w := range DefaultWaves {
			if w > p.Canary || w == 1 {
				p.Waves = append(p.Waves, w)
			}
		}
	}
	if p.StageTimeout == 0 {
		p.StageTimeout = DefaultStageTimeout
	}
	switch {
	case !(p.Canary > 0 && p.Canary <= 1):
		return fmt.Errorf("ota: canary %v: must be in (0, 100%%]: %w", p.Canary, devices.ErrInvalid)
	case !(p.HaltOn >= 0 && p.HaltOn < 1):
		return fmt.Errorf("ota: halt-on-failures %v: must be in [0, 100%%): %w", p.HaltOn, devices.ErrInvalid)
	case p.StageTimeout < time.Second:
		return fmt.Errorf("ota: stage timeout %v: must be at least 1s: %w", p.StageTimeout, devices.ErrInvalid)
	}
	prev := p.Canary
	for _, w := range p.Waves {
		if !(w > prev || w == 1 && prev == 1) || w > 1 {
			return fmt.Errorf("ota: waves %v: must grow after the canary %v up to 1: %w", p.Waves, p.Canary, devices.ErrInvalid)
		}
		prev = w
	}
	if prev != 1 {
		return fmt.Errorf("ota: waves %v: the last must be 1 (everyone): %w", p.Waves, devices.ErrInvalid)
	}
	return nil
}

// Stages returns how many of n hubs each stage takes: the canary (at least
// one hub), then each wave up to its cumulative fraction. Empty stages (a
// small fleet whose canary already covers a wave) are dropped.
func (p Plan) Stages(n int) []int {
	var sizes []int
	done := 0
	for _, f := range append([]float64{p.Canary}, p.Waves...) {
		upto := min(n, max(1, int(math.Ceil(f*float64(n)))))
		if upto > done {
			sizes = append(sizes, upto-done)
			done = upto
		}
	}
	return sizes
}

// Counts are a stage's hubs by result.
type Counts struct {
	Total     int `json:"total"`
	Pending   int `json:"pending"`   // not sent yet
	Postponed int `json:"postponed"` // held back by an open incident
	Sent      int `json:"sent"`      // sent, not yet running or failed
	Installed int `json:"running"`   // report the new version
	Failed    int `json:"failed"`    // acknowledged failed
	Lost      int `json:"lost"`      // did not come back within the stage timeout
	// Unreachable hubs had no session at the broker: never commanded, so
	// not judged.
	Unreachable int `json:"unreachable"`
}

// Add counts n hubs whose result is r (the engine counts a stage's hubs
// with it, and the store a rollout's saved targets).
func (c *Counts) Add(r Result, n int) {
	c.Total += n
	switch r {
	case Pending:
		c.Pending += n
	case Postponed:
		c.Postponed += n
	case Sent:
		c.Sent += n
	case Installed:
		c.Installed += n
	case Failed:
		c.Failed += n
	case Lost:
		c.Lost += n
	case Unreachable:
		c.Unreachable += n
	}
}

// Plus is c and o added up (a rollout's stages in all).
func (c Counts) Plus(o Counts) Counts {
	return Counts{Total: c.Total + o.Total, Pending: c.Pending + o.Pending, Postponed: c.Postponed + o.Postponed, Sent: c.Sent + o.Sent,
		Installed: c.Installed + o.Installed, Failed: c.Failed + o.Failed, Lost: c.Lost + o.Lost, Unreachable: c.Unreachable + o.Unreachable}
}

// Bad is what the halt threshold counts: failed installs and hubs that did
// not come back.
func (c Counts) Bad() int { return c.Failed + c.Lost }

// Verdict is what a stage's judgement says to do.
type Verdict int

const (
	Wait    Verdict = iota // hubs are still under way
	Advance                // the stage is over and within the threshold
	Halt                   // failures exceed the threshold
)

func (v Verdict) String() string { return [...]string{"wait", "advance", "halt"}[v] }

// Judge decides a stage from its counts, elapsed time since it started and
// the plan. It halts as soon as the failures exceed the threshold, without
// waiting for the rest: more successes cannot undo a failure. timedOut says
// the stage timeout has passed, so the caller must count the hubs still
// Sent as Lost and judge again.
func Judge(c Counts, p Plan, elapsed time.Duration) (v Verdict, timedOut bool) {
	// Postponed and unreachable hubs are not part of the judgement: they were not asked
	// yet. They move to the next stage (Engine) or keep the last one open.
	asked := c.Total - c.Postponed - c.Unreachable
	if asked > 0 && float64(c.Bad()) > p.HaltOn*float64(asked) {
		return Halt, false
	}
	if c.Sent > 0 || c.Pending > 0 {
		if elapsed >= p.StageTimeout && c.Pending == 0 {
			return Wait, true
		}
		return Wait, false
	}
	return Advance, false
}
