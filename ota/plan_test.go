package ota

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

func TestPlanStages(t *testing.T) {
	p := Plan{Canary: 0.01, HaltOn: 0.02}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{300000, "[3000 27000 120000 150000]"},
		{2000, "[20 180 800 1000]"},
		{50, "[1 4 20 25]"},
		{1, "[1]"},
		{0, "[]"},
	} {
		if got := fmt.Sprint(p.Stages(tc.n)); got != tc.want {
			t.Errorf("Stages(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestPlanDefaultWavesAfterTheCanary(t *testing.T) {
	for canary, want := range map[float64]string{0.01: "[0.1 0.5 1]", 0.1: "[0.5 1]", 0.5: "[1]", 1: "[1]"} {
		p := Plan{Canary: canary, HaltOn: 0.02}
		if err := p.Validate(); err != nil || fmt.Sprint(p.Waves) != want {
			t.Errorf("canary %v: waves %v, %v; want %s", canary, p.Waves, err, want)
		}
	}
}

func TestPlanValidate(t *testing.T) {
	for _, p := range []Plan{
		{Canary: 0, HaltOn: 0.02},
		{Canary: 1.5, HaltOn: 0.02},
		{Canary: 0.01, HaltOn: 1},
		{Canary: 0.01, HaltOn: -0.1},
		{Canary: 0.2, HaltOn: 0.02, Waves: []float64{0.1, 1}},
		{Canary: 0.01, HaltOn: 0.02, Waves: []float64{0.5}},
		{Canary: 0.01, HaltOn: 0.02, StageTimeout: time.Millisecond},
	} {
		if err := p.Validate(); !errors.Is(err, devices.ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", p, err)
		}
	}
}

func TestJudge(t *testing.T) {
	p := Plan{Canary: 0.01, HaltOn: 0.02, StageTimeout: time.Minute}
	for _, tc := range []struct {
		name     string
		c        Counts
		elapsed  time.Duration
		want     Verdict
		timedOut bool
	}{
		{"under way", Counts{Total: 100, Sent: 60, Installed: 40}, time.Second, Wait, false},
		{"all in", Counts{Total: 100, Installed: 98, Failed: 2}, time.Second, Advance, false},
		{"3 of 100 halts before the rest reports", Counts{Total: 100, Sent: 50, Installed: 47, Failed: 2, Lost: 1}, time.Second, Halt, false},
		{"timeout", Counts{Total: 100, Sent: 1, Installed: 99}, time.Minute, Wait, true},
		{"postponed are not judged", Counts{Total: 100, Postponed: 50, Installed: 49, Failed: 1}, time.Second, Advance, false},
		{"postponed do not dilute", Counts{Total: 100, Postponed: 50, Installed: 48, Failed: 2}, time.Second, Halt, false},
		{"unreachable are not judged", Counts{Total: 10, Unreachable: 9, Installed: 1}, time.Second, Advance, false},
		{"one canary hub failing halts", Counts{Total: 20, Installed: 19, Failed: 1}, time.Second, Halt, false},
	} {
		v, to := Judge(tc.c, p, tc.elapsed)
		if v != tc.want || to != tc.timedOut {
			t.Errorf("%s: Judge = %v, %v; want %v, %v", tc.name, v, to, tc.want, tc.timedOut)
		}
	}
}
