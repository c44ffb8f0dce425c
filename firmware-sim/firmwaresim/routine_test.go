package firmwaresim

import (
	"reflect"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

var routineStart = time.Date(2026, 3, 2, 0, 0, 0, 0, kst)

func TestPlanInjectionsDeterministicAndPlaced(t *testing.T) {
	kinds := map[InjectKind]int{}
	for i := range uint32(200) {
		a, b := &Home{Seed: 3, Index: i}, &Home{Seed: 3, Index: i}
		ia, ib := a.PlanInjections(routineStart, 30, 0.2, 0.2), b.PlanInjections(routineStart, 30, 0.2, 0.2)
		if !reflect.DeepEqual(ia, ib) {
			t.Fatalf("home %d: two plans differ", i)
		}
		for j, in := range ia {
			kinds[in.Kind]++
			if in.End.After(routineStart.Add(30 * 24 * time.Hour)) {
				t.Errorf("home %d: %s lasts past the last day (%s)", i, in.Kind, in.End)
			}
			if j > 0 && in.At.Before(ia[j-1].End) {
				t.Errorf("home %d: %s at %s overlaps the previous injection", i, in.Kind, in.At)
			}
			day, m := dayAndMinute(in.At)
			act, _ := a.planFor(day).at(m)
			switch in.Kind {
			case InjectCardiac, InjectBreathing:
				if act != actSleep {
					t.Errorf("home %d: %s at %s while %d, want asleep", i, in.Kind, in.At, act)
				}
			case InjectFire:
				if act != actCook {
					t.Errorf("home %d: fire at %s while %d, want cooking", i, in.At, act)
				}
			}
		}
	}
	for _, k := range append(append([]InjectKind{}, Emergencies...), Faults...) {
		if kinds[k] == 0 {
			t.Errorf("no %s in 6,000 home-days", k)
		}
	}
}

// Each injected emergency shows on the sensors that detect it.
func TestInjectionsShow(t *testing.T) {
	at := routineStart.Add(10*time.Hour + 20*time.Second)
	night := routineStart.Add(2*time.Hour + 20*time.Second)
	tests := []struct {
		kind InjectKind
		at   time.Time
		saw  func(rs []devices.Reading, es []devices.Event) bool
	}{
		{InjectFall, at, func(_ []devices.Reading, es []devices.Event) bool {
			return len(es) > 0 && es[len(es)-1].Kind == devices.EventFall
		}},
		{InjectSOS, at, func(_ []devices.Reading, es []devices.Event) bool {
			return len(es) > 0 && es[len(es)-1].Kind == devices.EventSOS
		}},
		{InjectFire, at, func(rs []devices.Reading, _ []devices.Event) bool {
			return has(rs, SensorKitchenSmoke, devices.MetricSmoke, func(v float64) bool { return v >= 2.5 })
		}},
		{InjectCardiac, night, func(rs []devices.Reading, _ []devices.Event) bool {
			return count(rs, SensorRadar, devices.MetricHeartRate, func(v float64) bool { return v < 40 }) == 10
		}},
		{InjectBreathing, night, func(rs []devices.Reading, _ []devices.Event) bool {
			return count(rs, SensorRadar, devices.MetricRespiration, func(v float64) bool { return v <= 8 }) == 10
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			h := &Home{Seed: 1, Index: 1, VitalsEvery: 6 * time.Second,
				Injected: []Injection{{Kind: tt.kind, At: tt.at, End: tt.at.Add(time.Hour)}}}
			m := tt.at.Truncate(time.Minute)
			if !tt.saw(h.Readings(nil, m), h.Events(nil, m)) {
				t.Errorf("%s not on the sensors", tt.kind)
			}
			for _, r := range h.Readings(nil, m.Add(5*time.Minute)) {
				if r.Metric == devices.MetricMotion && r.Value > 0 {
					t.Errorf("the resident moves during %s: %+v", tt.kind, r)
				}
			}
		})
	}
}

// A meal starts when the resident is free to cook (back from an outing,
// out of the shower, the visitor gone), not mid-way: otherwise the kitchen
// jumps to mid-meal heat in a minute, at the heat rate-of-rise limit.
func TestMealsStartWhenFree(t *testing.T) {
	for i := range uint32(300) {
		h := &Home{Seed: 1, Index: i}
		for d := range int64(30) {
			day, _ := dayAndMinute(routineStart)
			p := h.planFor(day + d)
			for _, meal := range p.meals {
				for m := int(meal.start); m < int(meal.end); m++ {
					if act, _ := p.at(m); act != actCook && m < int(meal.start)+(int(meal.end)-int(meal.start))/2 {
						t.Fatalf("home %d day %d: meal %v interrupted at minute %d (activity %d)", i, d, meal, m, act)
					}
				}
			}
		}
	}
}

func has(rs []devices.Reading, s devices.SensorID, m devices.Metric, ok func(float64) bool) bool {
	return count(rs, s, m, ok) > 0
}

func count(rs []devices.Reading, s devices.SensorID, m devices.Metric, ok func(float64) bool) int {
	n := 0
	for _, r := range rs {
		if r.Sensor == s && r.Metric == m && ok(r.Value) {
			n++
		}
	}
	return n
}

// A resident who stopped moving opens no door and trips no PIR until help
// comes, whatever the day's plan had (home 11 expected a visitor at 17:21).
func TestStillMeansStill(t *testing.T) {
	at := routineStart.Add(33*time.Hour + 13*time.Minute)
	h := &Home{Seed: 1, Index: 11, VitalsEvery: 6 * time.Second,
		Injected: []Injection{{Kind: InjectStill, At: at, End: at.Add(26 * time.Hour)}}}
	for m := at.Truncate(time.Minute).Add(time.Minute); m.Before(at.Add(26 * time.Hour)); m = m.Add(time.Minute) {
		for _, r := range h.Readings(nil, m) {
			if (r.Metric == devices.MetricMotion || r.Metric == devices.MetricDoor) && r.Value > 0 {
				t.Fatalf("%s: %+v", m.In(kst), r)
			}
		}
		if es := h.Events(nil, m); len(es) > 0 {
			t.Fatalf("%s: events %+v", m.In(kst), es)
		}
	}
}
