package main

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// SoakReport is the JSON of `dolbom-sim soak`. An incident is one episode
// (one fingerprint) that reached Firing; one whose cancel window ended
// without it (the resident cancelled, got up, the smoke was steam) alerted
// nobody and is counted apart (verified_away). An incident is false when
// no injection of its home explains it (see explains).
type SoakReport struct {
	Homes    int    `json:"homes"`
	Days     int    `json:"days"`
	HomeDays int    `json:"home_days"`
	Seed     uint64 `json:"seed"`
	SimStart string `json:"sim_start"`
	Messages int64  `json:"messages"`
	// Incidents counts every incident by class; False those no injection
	// explains, per 1,000 home-days by class and in all by cause.
	Incidents            map[string]int     `json:"incidents"`
	False                map[string]int     `json:"false"`
	FalsePer1000HomeDays map[string]float64 `json:"false_per_1000_home_days"`
	FalseByCause         map[string]int     `json:"false_by_cause"`
	// FalseTo119 counts the false incidents that 119 received a CAP
	// Alert of (the mock 119, through the real CAP client); Reached119 the
	// injected emergencies it did, by kind; Repeated119 the injections
	// that 119 was alerted to more than once (two incidents of one
	// episode); Alerts119 every Alert 119 received.
	FalseTo119  int            `json:"false_to_119"`
	Reached119  map[string]int `json:"reached_119"`
	Repeated119 int            `json:"repeated_119"`
	Alerts119   int            `json:"alerts_119"`
	// Refused counts the messages the gateway refused (a PUBACK reason
	// >= 0x80: a clock check, a rate limit): 0 when the hubs and the
	// gateway share the simulated clock.
	Refused        int64              `json:"refused"`
	VerifiedAway   map[string]int     `json:"verified_away"`
	Injected       map[string]int     `json:"injected"`
	Detected       map[string]int     `json:"detected"`
	LatencySeconds map[string]latency `json:"detection_latency_s"`
	Missed         []soakMiss         `json:"missed"`
	// FalseFirst lists the earliest false incidents (up to 5 a cause), to look into.
	FalseFirst             []soakFalse        `json:"false_first"`
	Targets                map[string]float64 `json:"targets"`
	Failures               []string           `json:"failures"`
	WallSeconds            float64            `json:"wall_seconds"`
	SimulatedPerWallSecond float64            `json:"simulated_s_per_wall_s"`
}

// latency is the time from an injection to its first detection, in
// simulated seconds.
type latency struct {
	P50 float64 `json:"p50"`
	Max float64 `json:"max"`
}

type soakFalse struct {
	Hub   string `json:"hub"`
	Cause string `json:"cause"`
	At    string `json:"at"` // KST, the residents' local time
}

type soakMiss struct {
	Hub  string `json:"hub"`
	Kind string `json:"kind"`
	At   string `json:"at"`
}

// soakTargets are issue 17's: per 1,000 home-days.
var soakTargets = map[string]float64{"emergency": 0.1, "welfare": 2}

// detects lists, per injected kind, the causes that find it.
var detects = map[firmwaresim.InjectKind][]detectors.Cause{
	firmwaresim.InjectFire:           {detectors.CauseFireConfirmed, detectors.CauseSmokeUnconfirmed},
	firmwaresim.InjectFall:           {detectors.CauseFall},
	firmwaresim.InjectSOS:            {detectors.CauseSOS},
	firmwaresim.InjectCardiac:        {detectors.CauseBradycardia, detectors.CauseAsystole},
	firmwaresim.InjectBreathing:      {detectors.CauseBreathingRate, detectors.CauseApnoea},
	firmwaresim.InjectStill:          {detectors.CauseInactivity},
	firmwaresim.FaultBatteryLow:      {detectors.CauseBatteryLow},
	firmwaresim.FaultSensorSilent:    {detectors.CauseSensorSilent},
	firmwaresim.FaultWearableOnTable: {detectors.CauseSensorSignalLost},
}

// soakIncident is one fingerprint's detections folded.
type soakIncident struct {
	hub      devices.HubID
	cause    detectors.Cause
	class    detectors.Class
	first    time.Time // first Pending or Firing
	fired    time.Time // first Firing; zero: never fired
	ended    time.Time // Resolved or Cancelled; zero: open at the end
	priority detectors.Priority
}

func foldIncidents(all []detectors.Detection) []*soakIncident {
	byFP := map[string]*soakIncident{}
	var out []*soakIncident
	for _, d := range all {
		in := byFP[d.Fingerprint]
		if in == nil {
			in = &soakIncident{hub: d.Hub, cause: d.Cause, class: d.Class, first: d.At, priority: d.Priority}
			byFP[d.Fingerprint] = in
			out = append(out, in)
		}
		in.priority = min(in.priority, d.Priority)
		switch d.State {
		case detectors.Firing:
			if in.fired.IsZero() {
				in.fired = d.At
			}
		case detectors.Resolved, detectors.Cancelled:
			in.ended = d.At
		}
	}
	return out
}

// explains reports whether injection in accounts for incident c: an
// emergency explains whatever happens in its home while it lasts (the
// resident lies still: inactivity follows a fall), a device fault only
// device-health incidents (a wearable on the table that raised asystole
// would be a false alarm).
func explains(in firmwaresim.Injection, c *soakIncident) bool {
	if c.first.Before(in.At.Add(-time.Minute)) || c.first.After(in.End.Add(time.Hour)) {
		return false
	}
	return in.Kind.Emergency() || c.class == detectors.ClassDeviceHealth
}

func classKey(c detectors.Class) string {
	if c == detectors.ClassDeviceHealth {
		return "device"
	}
	return string(c)
}

func soakReport(o soakOptions, hubs []devices.HubID, injected [][]firmwaresim.Injection, all []detectors.Detection) *SoakReport {
	homeDays := o.homes * o.days
	rep := &SoakReport{Homes: o.homes, Days: o.days, HomeDays: homeDays, Seed: o.seed, SimStart: soakStart.Format(time.RFC3339),
		Incidents: map[string]int{}, False: map[string]int{"emergency": 0, "welfare": 0, "device": 0},
		FalsePer1000HomeDays: map[string]float64{}, FalseByCause: map[string]int{}, VerifiedAway: map[string]int{},
		Reached119: map[string]int{}, Injected: map[string]int{}, Detected: map[string]int{}, LatencySeconds: map[string]latency{}, Missed: []soakMiss{}, FalseFirst: []soakFalse{},
		Targets: soakTargets, Failures: []string{}}
	index := map[devices.HubID]int{}
	for i, h := range hubs {
		index[h] = i
	}
	incidents := foldIncidents(all)
	// Shards emit in no fixed order between homes: sort, so that a run's
	// report (false_first too) depends on its flags only.
	slices.SortFunc(incidents, func(a, b *soakIncident) int {
		return cmp.Or(a.first.Compare(b.first), cmp.Compare(a.hub, b.hub), cmp.Compare(a.cause, b.cause))
	})
	byHub := map[devices.HubID][]*soakIncident{}
	for _, c := range incidents {
		byHub[c.hub] = append(byHub[c.hub], c)
		if c.fired.IsZero() {
			if !c.ended.IsZero() {
				rep.VerifiedAway[string(c.cause)]++
			}
			continue
		}
		rep.Incidents[classKey(c.class)]++
		explained := false
		for _, in := range injected[index[c.hub]] {
			if explains(in, c) {
				explained = true
				break
			}
		}
		if explained {
			continue
		}
		rep.False[classKey(c.class)]++
		rep.FalseByCause[string(c.cause)]++
		if rep.FalseByCause[string(c.cause)] <= 5 {
			rep.FalseFirst = append(rep.FalseFirst, soakFalse{Hub: string(c.hub), Cause: string(c.cause), At: c.first.In(soakStart.Location()).Format(time.RFC3339)})
		}
	}
	for k, n := range rep.False {
		rep.FalsePer1000HomeDays[k] = float64(n) * 1000 / float64(homeDays)
	}
	lat := map[string][]float64{}
	for i, ins := range injected {
		for _, in := range ins {
			kind := string(in.Kind)
			rep.Injected[kind]++
			var first time.Time
			for _, c := range byHub[hubs[i]] {
				if slices.Contains(detects[in.Kind], c.cause) && !c.first.Before(in.At.Add(-time.Minute)) && !c.first.After(in.End) {
					if first.IsZero() || c.first.Before(first) {
						first = c.first
					}
				}
			}
			if first.IsZero() {
				if in.Kind.Emergency() {
					rep.Missed = append(rep.Missed, soakMiss{Hub: string(hubs[i]), Kind: kind, At: in.At.Format(time.RFC3339)})
				}
				continue
			}
			rep.Detected[kind]++
			s := max(0, first.Sub(in.At).Seconds())
			lat[kind] = append(lat[kind], s)
			if in.Kind.Emergency() {
				lat["emergencies"] = append(lat["emergencies"], s)
			}
		}
	}
	for k, v := range lat {
		slices.Sort(v)
		rep.LatencySeconds[k] = latency{P50: v[len(v)/2], Max: v[len(v)-1]}
	}
	slices.SortFunc(rep.Missed, func(a, b soakMiss) int { return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Hub, b.Hub)) })
	return rep
}

// judge lists the targets missed, once every count is in.
func (rep *SoakReport) judge() {
	rep.Failures = rep.Failures[:0]
	for _, k := range []string{"emergency", "welfare"} {
		if got := rep.FalsePer1000HomeDays[k]; got > soakTargets[k] {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s false alarms %.3f per 1,000 home-days, target <= %g", k, got, soakTargets[k]))
		}
	}
	if rep.FalseTo119 > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d false alarms reached 119, target 0", rep.FalseTo119))
	}
	if n := len(rep.Missed); n > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d injected emergencies not detected", n))
	}
}
