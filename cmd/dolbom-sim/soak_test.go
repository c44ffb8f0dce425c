package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// A small soak through the whole gateway: 50 homes for 2 simulated days,
// with emergencies injected often enough that every kind occurs. The
// gateway runs on the simulated clock, nine months before the wall clock
// of the day this was written: were its broker to stamp receipts with the
// wall clock, every hub would look skewed (clock_skew, as `load --speed
// 16` showed) and its events be refused or re-stamped; were dispatch or
// the detectors to read it, deadlines and escalations would run on the
// wrong time and injected emergencies would not reach 119 in the run.
func TestSoakSmall(t *testing.T) {
	if wall := time.Now(); wall.Sub(soakStart) < 24*time.Hour {
		t.Fatalf("the wall clock (%s) must be well past the simulated start for this test to tell them apart", wall)
	}
	var out, errs bytes.Buffer
	failed, err := cmdSoak(context.Background(), []string{"--homes", "50", "--days", "2", "--emergency-rate", "0.4", "--fault-rate", "0.3", "--json"}, &out, &errs)
	if err != nil {
		t.Fatalf("soak: %v\n%s", err, errs.String())
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &keys); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"homes", "days", "false_per_1000_home_days", "false_by_cause", "false_to_119", "injected", "detected", "detection_latency_s", "missed", "reached_119", "refused"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("no %q in the report", k)
		}
	}
	var rep SoakReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Homes != 50 || rep.Days != 2 || rep.HomeDays != 100 {
		t.Errorf("homes %d days %d home-days %d, want 50, 2, 100", rep.Homes, rep.Days, rep.HomeDays)
	}
	for _, class := range []string{"emergency", "welfare", "device"} {
		if _, ok := rep.FalsePer1000HomeDays[class]; !ok {
			t.Errorf("false_per_1000_home_days has no %q", class)
		}
	}
	for _, k := range firmwaresim.Emergencies {
		if rep.Injected[string(k)] == 0 {
			t.Errorf("no %s injected: raise the rate or change the seed", k)
		}
		if rep.Detected[string(k)] != rep.Injected[string(k)] {
			t.Errorf("%s: %d of %d injected detected", k, rep.Detected[string(k)], rep.Injected[string(k)])
		}
		// Nobody answers the guardian's SMS and call, so each escalates
		// to 119, through the CAP client to the mock 119, once.
		if rep.Reached119[string(k)] != rep.Injected[string(k)] {
			t.Errorf("%s: %d of %d injected reached 119", k, rep.Reached119[string(k)], rep.Injected[string(k)])
		}
	}
	if rep.Repeated119 != 0 || rep.FalseTo119 != 0 {
		t.Errorf("%d injected emergencies alerted 119 more than once, %d false alarms reached it", rep.Repeated119, rep.FalseTo119)
	}
	if rep.Refused != 0 {
		t.Errorf("the gateway refused %d messages (a clock check?)", rep.Refused)
	}
	if len(rep.Missed) != 0 {
		t.Errorf("missed: %+v", rep.Missed)
	}
	if n := rep.FalseByCause["clock_skew"] + rep.FalseByCause["hub_offline"]; n != 0 {
		t.Errorf("%d clock_skew or hub_offline incidents: a detector read the wall clock (%v)", n, rep.FalseByCause)
	}
	if failed {
		t.Errorf("--check not given, yet the run failed")
	}
}

// A miss, a false emergency and one that reached 119 are each a failure,
// which --check turns into a non-zero exit.
func TestSoakReportFailures(t *testing.T) {
	at := soakStart.Add(10 * time.Hour)
	hubs := []devices.HubID{"soak-00000"}
	injected := [][]firmwaresim.Injection{{{Kind: firmwaresim.InjectSOS, At: at, End: at.Add(time.Hour)}}}
	false119 := detectors.Detection{Fingerprint: "soak-00000/fire_confirmed/1", Hub: "soak-00000", Class: detectors.ClassEmergency,
		Cause: detectors.CauseFireConfirmed, Priority: detectors.PriorityCritical, State: detectors.Firing, At: at.Add(5 * time.Hour)}
	rep := soakReport(soakOptions{homes: 1, days: 1, check: true}, hubs, injected, []detectors.Detection{false119})
	lookup := func(_ context.Context, id string) (dispatch.Incident, error) {
		return dispatch.Incident{ID: id, Hub: "soak-00000", Class: detectors.ClassEmergency, Cause: detectors.CauseFireConfirmed, OpenedAt: false119.At}, nil
	}
	alerts := []receiver.Alert{{Identifier: "a1", IncidentID: "inc-1", MsgType: cap.MsgAlert}, {Identifier: "a2", IncidentID: "inc-1", MsgType: cap.MsgCancel}}
	if err := rep.count119(context.Background(), lookup, alerts, newSoakCloser(hubs, injected)); err != nil {
		t.Fatal(err)
	}
	rep.judge()
	if len(rep.Missed) != 1 || rep.Missed[0].Kind != "sos" {
		t.Errorf("missed %+v, want the SOS", rep.Missed)
	}
	if rep.FalseTo119 != 1 || rep.Alerts119 != 1 || rep.FalseByCause["fire_confirmed"] != 1 {
		t.Errorf("false_to_119 %d of %d alerts, by cause %v: want the fire", rep.FalseTo119, rep.Alerts119, rep.FalseByCause)
	}
	if len(rep.Failures) != 3 {
		t.Errorf("failures %q, want the emergency rate, 119 and the miss", rep.Failures)
	}
}

// A run depends on its flags only: two runs give the same report, wall
// times aside.
func TestSoakDeterministic(t *testing.T) {
	run := func() SoakReport {
		var out, errs bytes.Buffer
		if _, err := cmdSoak(context.Background(), []string{"--homes", "10", "--days", "2", "--emergency-rate", "0.5", "--fault-rate", "0.5", "--seed", "7"}, &out, &errs); err != nil {
			t.Fatalf("soak: %v\n%s", err, errs.String())
		}
		var rep SoakReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		rep.WallSeconds, rep.SimulatedPerWallSecond = 0, 0
		return rep
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two runs differ:\n%+v\n%+v", a, b)
	}
	if len(a.Injected) == 0 {
		t.Errorf("nothing injected: %+v", a)
	}
}

// Bad flags are refused with what to give.
func TestSoakFlags(t *testing.T) {
	for _, args := range [][]string{{"--homes", "0"}, {"--days", "-1"}, {"--emergency-rate", "2"}} {
		var out, errs bytes.Buffer
		if _, err := cmdSoak(context.Background(), args, &out, &errs); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// The store keeps up with the simulated clock: the hours are sealed into
// hourly rollups as they fall due and the raw readings past the soak's 6 h
// retention are gone. With the sealer on the wall clock (every wall
// minute), a soak's hours went unsealed for half a simulated day, and
// retention, which keeps the raw rows of unsealed hours, kept them all and
// rescanned them at every pass: most of the run's CPU.
func TestSoakStoreKeepsUp(t *testing.T) {
	o := soakOptions{homes: 3, days: 1, seed: 3, log: zerolog.Nop()}
	var checked bool
	o.inspect = func(ctx context.Context, g *gateway.Gateway, hubs []devices.HubID, now time.Time) error {
		checked = true
		if want := soakStart.Add(24 * time.Hour); !now.Equal(want) {
			t.Errorf("the run ended at %s, want %s", now, want)
		}
		j := g.Store.Journal()
		for _, hub := range hubs {
			// Retention runs every 10 simulated minutes and keeps 6 h, and
			// the last hour or two may wait for their seal.
			rs, _, err := j.HubSamples(ctx, hub, soakStart, now.Add(-8*time.Hour))
			if err != nil {
				return err
			}
			if len(rs) != 0 {
				t.Errorf("%s: %d raw readings older than 8 h kept (first at %s): retention did not run as of the simulated clock", hub, len(rs), rs[0].At)
			}
			// The kitchen's smoke sensor reports every minute: each sealed
			// hour has its 60 readings.
			hours, err := j.Rollups(ctx, hub, firmwaresim.SensorKitchenSmoke, devices.MetricSmoke, time.Hour, soakStart, now.Add(-2*time.Hour))
			if err != nil {
				return err
			}
			if len(hours) != 22 {
				t.Errorf("%s: %d hourly rollups of the day's first 22 hours", hub, len(hours))
			}
			for _, h := range hours {
				if h.Count != 60 {
					t.Errorf("%s: hour %s has %d readings, want 60", hub, h.Bucket, h.Count)
				}
			}
		}
		return nil
	}
	rep, err := runSoak(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the soak never called inspect")
	}
	if rep.Refused != 0 {
		t.Errorf("%d messages refused", rep.Refused)
	}
}

// Each simulated minute is sent, and stepped through, once its clock has
// come, though it is encoded while the gateway works on the minute
// before: with an emergency per home-day, every injected emergency is
// detected (a pendant's SOS and a wearable's fall at once), no message is
// refused, and every minute's readings batch arrived (one message per home
// and minute at least). A speedup that skipped minutes, or steps of the
// detectors, would miss some of them.
func TestSoakSendsEachMinuteAtItsTime(t *testing.T) {
	var out, errs bytes.Buffer
	if _, err := cmdSoak(context.Background(), []string{"--homes", "20", "--days", "1", "--emergency-rate", "1", "--fault-rate", "0", "--seed", "5"}, &out, &errs); err != nil {
		t.Fatalf("soak: %v\n%s", err, errs.String())
	}
	var rep SoakReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if min := int64(20 * 24 * 60); rep.Messages < min {
		t.Errorf("%d messages, want at least %d (a readings batch per home and minute)", rep.Messages, min)
	}
	total := 0
	for k, n := range rep.Injected {
		total += n
		if rep.Detected[k] != n {
			t.Errorf("%s: %d of %d injected detected", k, rep.Detected[k], n)
		}
	}
	if total < 10 {
		t.Fatalf("only %d emergencies injected: %+v", total, rep.Injected)
	}
	for _, k := range []firmwaresim.InjectKind{firmwaresim.InjectSOS, firmwaresim.InjectFall} {
		if rep.Injected[string(k)] == 0 {
			continue
		}
		if l := rep.LatencySeconds[string(k)]; l.Max != 0 {
			t.Errorf("%s detected %v s after it happened, want at once", k, l.Max)
		}
	}
	if rep.Refused != 0 || len(rep.Missed) != 0 {
		t.Errorf("refused %d, missed %+v", rep.Refused, rep.Missed)
	}
}
