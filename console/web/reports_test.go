package web

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/dispatch"
)

func TestAckReport(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	inc := func(ack time.Duration, via dispatch.Channel, state dispatch.State) dispatch.Incident {
		i := dispatch.Incident{OpenedAt: t0, State: state, AcknowledgedVia: via}
		if ack > 0 {
			i.AcknowledgedAt = t0.Add(ack)
		}
		return i
	}
	list := []console.ReportIncident{
		{Incident: inc(20*time.Second, "voice", dispatch.StateAcknowledged), AckStep: 0, AckChannel: "voice"},
		{Incident: inc(50*time.Second, "voice", dispatch.StateAcknowledged), AckStep: 0, AckChannel: "voice"},
		{Incident: inc(100*time.Second, "console", dispatch.StateResolved), AckStep: -1},
		{Incident: inc(300*time.Second, "cap", dispatch.StateAcknowledged), AckStep: -1},
		{Incident: inc(0, "", dispatch.StateNotified), AckStep: -1},  // waiting: unacknowledged
		{Incident: inc(0, "", dispatch.StateCancelled), AckStep: -1}, // the resident cancelled: neither
	}
	groups, unacked := ackReport(list)
	if unacked != 1 {
		t.Errorf("unacked = %d, want 1", unacked)
	}
	all := groups[0]
	if all.N != 4 || all.P50 != 50*time.Second || all.P99 != 300*time.Second || all.Within60 != 0.5 || all.Within180 != 0.75 || all.Meets60() {
		t.Errorf("all: %+v", all)
	}
	var order []string
	for _, g := range groups[1:] {
		order = append(order, g.Step+"/"+g.Channel)
	}
	if got := order; len(got) != 3 || got[0] != "1/voice" || got[1] != "119/cap" || got[2] != "console/console" {
		t.Errorf("groups: %v", got)
	}
}

func TestFalseAlarmReport(t *testing.T) {
	list := []console.ReportIncident{
		{Incident: dispatch.Incident{Cause: "smoke_unconfirmed", Hub: "h1", Sensor: "kitchen", ResidentID: "r1", Disposition: dispatch.DispositionFalseAlarm, State: dispatch.StateResolved}},
		{Incident: dispatch.Incident{Cause: "smoke_unconfirmed", Hub: "h1", Sensor: "kitchen", ResidentID: "r1", State: dispatch.StateCancelled}},
		{Incident: dispatch.Incident{Cause: "sos", Hub: "h2", ResidentID: "r2", State: dispatch.StateResolved, Disposition: dispatch.DispositionRealEmergency}},
		{Incident: dispatch.Incident{Cause: "hub_offline", Class: "device_health", Hub: "h3"}},
	}
	byCause, byDevice, byHome := falseAlarmReport(list)
	if len(byCause) != 2 || byCause[0].Cause != "smoke_unconfirmed" || byCause[0].False != 2 || byCause[0].Share() != 1 {
		t.Errorf("by cause: %+v", byCause)
	}
	if byDevice[0].Key != "h1/kitchen" || byDevice[0].False != 2 || byHome[0].ResidentID != "r1" || byHome[1].False != 0 {
		t.Errorf("by device %+v, by home %+v", byDevice, byHome)
	}
}

func TestSteps119(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	tl := []dispatch.TimelineEntry{
		{At: t0, Action: dispatch.ActSent, Channel: dispatch.Channel119, Detail: "cap alert to 119"},
		{At: t0.Add(time.Minute), Action: dispatch.Act119, Channel: dispatch.Channel119, Detail: "dispatched"},
	}
	steps := steps119(dispatch.Incident{Alerted119: true}, tl)
	done := map[string]bool{}
	for _, s := range steps {
		done[s.Status] = s.Done
	}
	if !done["alerted"] || !done["accepted"] || !done["dispatched"] || done["on_scene"] || done["closed"] {
		t.Errorf("steps: %+v", steps)
	}
	if steps119(dispatch.Incident{}, nil) != nil {
		t.Errorf("an incident 119 never heard of has 119 steps")
	}
}

func TestDecimateKeepsPeak(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	var pts []EvidencePoint
	for i := range 10000 {
		v := 1.0
		if i == 5003 {
			v = 3.6
		}
		pts = append(pts, EvidencePoint{At: t0.Add(time.Duration(i) * 5 * time.Millisecond), Value: v})
	}
	out := decimate(pts, t0, t0.Add(50*time.Second), 300)
	peak := 0.0
	for _, p := range out {
		peak = max(peak, p.Value)
	}
	if len(out) > 600 || peak != 3.6 {
		t.Errorf("decimated to %d points, peak %v", len(out), peak)
	}
}

func TestFormatWaited(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		ko, en string
	}{{5 * time.Second, "5초", "5s"}, {92 * time.Second, "1분 32초", "1m 32s"}, {3*time.Hour + 4*time.Minute, "3시간 4분", "3h 04m"}, {-time.Second, "0초", "0s"}} {
		if got := formatWaited(tc.d, "ko"); got != tc.ko {
			t.Errorf("%v ko: %q", tc.d, got)
		}
		if got := formatWaited(tc.d, "en"); got != tc.en {
			t.Errorf("%v en: %q", tc.d, got)
		}
	}
}

// Times to acknowledge are counted in buckets: a million incidents cost no
// more memory than a few, percentiles are exact to 100 ms below 10 minutes,
// and the shares within 60 and 180 s are exact.
func TestDurationsBounded(t *testing.T) {
	var ds durations
	for i := range 1_000_000 {
		ds.add(time.Duration(i) * 97 * time.Millisecond) // 0 to ~27 h
	}
	if max := int(bucketOf(48*time.Hour)) + 1; len(ds.buckets) > max {
		t.Errorf("%d buckets for a million durations, want at most %d", len(ds.buckets), max)
	}
	p := ds.percentiles(0, .5)
	if p[0] != 0 || p[1] < 13*time.Hour || p[1] > 13*time.Hour+30*time.Minute {
		t.Errorf("percentiles %v", p)
	}
	var few durations
	for _, d := range []time.Duration{1234 * time.Millisecond, 60 * time.Second, 60100 * time.Millisecond, 50 * time.Hour} {
		few.add(d)
	}
	g := summarise("all", "all", &few)
	if g.P50 != 60*time.Second || g.P90 != 50*time.Hour || g.Within60 != 0.5 || g.Within180 != 0.75 {
		t.Errorf("summary %+v", g)
	}
	if p := few.percentiles(.25); p[0] != 1200*time.Millisecond {
		t.Errorf("p25 = %v, want the lower edge of its 100 ms bucket", p[0])
	}
}
