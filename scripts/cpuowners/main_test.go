package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// A sample belongs to the most specific owner on its stack (decoding
// inside the broker's worker is decoding's), the simulator's samples to
// nobody, and µs per message are the gateway's nanoseconds over messages.
func TestSplitByOwner(t *testing.T) {
	fn := map[string]*profile.Function{}
	var locs []*profile.Location
	loc := func(name string) *profile.Location {
		f, ok := fn[name]
		if !ok {
			f = &profile.Function{ID: uint64(len(fn) + 1), Name: name}
			fn[name] = f
		}
		l := &profile.Location{ID: uint64(len(locs) + 1), Line: []profile.Line{{Function: f}}}
		locs = append(locs, l)
		return l
	}
	stack := func(names ...string) []*profile.Location { // leaf first
		var out []*profile.Location
		for _, n := range names {
			out = append(out, loc(n))
		}
		return out
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Value: []int64{1, 3000}, Location: stack("encoding/json.x", "github.com/dolbom/dolbom/devices.Limits.decodeFrom",
				"github.com/dolbom/dolbom/broker.(*Server).takePublish", "github.com/dolbom/dolbom/broker.(*handoff).worker")},
			{Value: []int64{1, 1000}, Location: stack("runtime.futex", "github.com/dolbom/dolbom/broker.(*handoff).worker")},
			{Value: []int64{1, 5000}, Location: stack("runtime.memmove", "github.com/dolbom/dolbom/firmware-sim/firmwaresim.x"),
				Label: map[string][]string{"part": {"simulator"}}},
			{Value: []int64{1, 2000}, Location: stack("runtime.futex", "runtime.findRunnable", "runtime.schedule", "runtime.mcall")},
		},
		Function: nil,
		Location: nil,
	}
	for _, f := range fn {
		p.Function = append(p.Function, f)
	}
	p.Location = locs
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(&buf, 2, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"broker: decoding (devices)", "1.5", "runtime: scheduler", "broker: handoff workers, the rest", "gateway, in all"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "gateway, in all") || !strings.Contains(out.String(), "3.0\n") {
		t.Errorf("want the gateway's 6 µs over 2 messages (3.0), the simulator's left out:\n%s", out.String())
	}
	if _, _, err := split(&profile.Profile{SampleType: []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}}}); err == nil {
		t.Error("a heap profile was taken for a CPU profile")
	}
}
