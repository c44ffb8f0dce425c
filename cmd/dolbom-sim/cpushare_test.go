package main

import (
	"math"
	"testing"

	"github.com/google/pprof/profile"
)

func TestLabelShare(t *testing.T) {
	cpu := &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}
	prof := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, cpu},
		Sample: []*profile.Sample{
			{Value: []int64{1, 30e6}, Label: map[string][]string{simLabelKey: {simLabelValue}}},
			{Value: []int64{1, 60e6}},
			{Value: []int64{1, 10e6}, Label: map[string][]string{simLabelKey: {"other"}}},
		},
	}
	got, err := labelShare(prof, simLabelKey, simLabelValue)
	if err != nil || math.Abs(got-0.3) > 1e-9 {
		t.Fatalf("share = %v, %v; want 0.3", got, err)
	}
	if _, err := labelShare(&profile.Profile{SampleType: []*profile.ValueType{cpu}}, simLabelKey, simLabelValue); err == nil {
		t.Error("no samples: want an error")
	}
}
