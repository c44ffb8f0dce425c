package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"

	"github.com/google/pprof/profile"
)

// The load report's steady_cpu is the whole process's CPU: the in-process
// gateway and the simulated hubs driving it. The target is the
// gateway's, so the steady window is also CPU-profiled (about 1% overhead at
// pprof's 100 Hz) and the simulator's share taken out: its goroutines run
// under the label part=simulator (load.go), which their children inherit.
// The collector's background workers carry no label, so the GC work the
// simulator's garbage causes is counted as the gateway's: the gateway's
// figure is an upper bound.

// simLabelKey and simLabelValue mark the simulator's goroutines.
const (
	simLabelKey   = "part"
	simLabelValue = "simulator"
)

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// steadyProfile profiles the steady window into memory.
type steadyProfile struct {
	buf     bytes.Buffer
	running bool
}

// start begins the profile; false when one runs already (--cpuprofile for
// the whole run), in which case no split is reported.
func (p *steadyProfile) start() bool {
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return false
	}
	p.running = true
	return true
}

// stop ends the profile and returns the simulator's share of its CPU
// samples, writing the profile to path as well when path is set.
func (p *steadyProfile) stop(path string) (float64, error) {
	if !p.running {
		return 0, fmt.Errorf("no steady profile")
	}
	pprof.StopCPUProfile()
	p.running = false
	if path != "" {
		if err := os.WriteFile(path, p.buf.Bytes(), 0o644); err != nil {
			return 0, err
		}
	}
	prof, err := profile.Parse(bytes.NewReader(p.buf.Bytes()))
	if err != nil {
		return 0, fmt.Errorf("steady profile: %w", err)
	}
	return labelShare(prof, simLabelKey, simLabelValue)
}

// labelShare is the fraction of prof's CPU time spent on goroutines
// labelled key=value.
func labelShare(prof *profile.Profile, key, value string) (float64, error) {
	col := -1
	for i, st := range prof.SampleType {
		if st.Type == "cpu" {
			col = i
		}
	}
	if col < 0 {
		return 0, fmt.Errorf("steady profile: no cpu sample type")
	}
	var total, labelled int64
	for _, s := range prof.Sample {
		v := s.Value[col]
		total += v
		if slices.Contains(s.Label[key], value) {
			labelled += v
		}
	}
	if total == 0 {
		return 0, fmt.Errorf("steady profile: no samples")
	}
	return float64(labelled) / float64(total), nil
}
