package webconsole

// Adapters from the dispatcher (*dispatch.Dispatcher) and the store to the
// console's incident ports: the social worker's open incidents and
// history, the open-incident rule for medical details, the dispatcher's
// desk, the evidence chart and the reports.

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// DispatchPorts are the console's incident ports over a running dispatcher
// and its store; pass them as New's extra.
func DispatchPorts(desk *dispatch.Dispatcher, st *store.Store) console.WebDeps {
	d := dispatchAdapter{desk: desk, st: st}
	return console.WebDeps{Incidents: d, History: d, OpenIncident: d, Desk: desk, Evidence: d, Reports: st}
}

type dispatchAdapter struct {
	desk *dispatch.Dispatcher
	st   *store.Store
}

var activeStates = []dispatch.State{dispatch.StateOpen, dispatch.StateVerifying, dispatch.StateNotified, dispatch.StateAcknowledged}

func summary(inc dispatch.Incident) console.IncidentSummary {
	return console.IncidentSummary{ID: inc.ID, ResidentID: inc.ResidentID, Cause: string(inc.Cause), Priority: int(inc.Priority),
		State: string(inc.State), OpenedAt: inc.OpenedAt, ClosedAt: inc.ClosedAt, Summary: inc.Explanation.Ko}
}

// OpenIncidentsForResidents reads every open incident (a few hundred at
// most, nationwide) and keeps the caseload's.
func (d dispatchAdapter) OpenIncidentsForResidents(ctx context.Context, residents []devices.ResidentID) ([]console.IncidentSummary, error) {
	incs, err := d.desk.ListIncidents(ctx, dispatch.IncidentQuery{States: activeStates, Limit: 1000})
	if err != nil {
		return nil, err
	}
	mine := make(map[devices.ResidentID]bool, len(residents))
	for _, r := range residents {
		mine[r] = true
	}
	var out []console.IncidentSummary
	for _, inc := range incs {
		if inc.ResidentID != "" && mine[inc.ResidentID] {
			out = append(out, summary(inc))
		}
	}
	return out, nil
}

func (d dispatchAdapter) IncidentsOfResident(ctx context.Context, resident devices.ResidentID, limit int) ([]console.IncidentSummary, error) {
	incs, err := d.st.IncidentsOfResident(ctx, resident, limit)
	out := make([]console.IncidentSummary, len(incs))
	for i, inc := range incs {
		out[i] = summary(inc)
	}
	return out, err
}

// OpenIncident reports whether the resident has an open emergency or
// welfare incident: only then may a dispatcher see medical and access
// details. A device fault (a low battery open for weeks) does not count. It
// fails closed: when the look-up fails, the details stay hidden.
func (d dispatchAdapter) OpenIncident(ctx context.Context, resident devices.ResidentID) bool {
	if resident == "" {
		return false
	}
	incs, err := d.desk.ListIncidents(ctx, dispatch.IncidentQuery{States: activeStates, ResidentID: resident, Limit: 100})
	if err != nil {
		return false
	}
	for _, inc := range incs {
		if inc.Class != detectors.ClassDeviceHealth {
			return true
		}
	}
	return false
}

// HubWindow turns the store's raw rows into series: one per sensor and
// metric, and the accelerometer as its magnitude in g.
func (d dispatchAdapter) HubWindow(ctx context.Context, hub devices.HubID, from, to time.Time) ([]console.EvidenceSeries, error) {
	ev, err := d.st.EvidenceWindow(ctx, hub, from, to)
	if err != nil {
		return nil, err
	}
	type key struct {
		sensor devices.SensorID
		metric devices.Metric
	}
	idx := map[key]int{}
	var out []console.EvidenceSeries
	at := func(k key) *console.EvidenceSeries {
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, console.EvidenceSeries{Sensor: k.sensor, Metric: k.metric})
		}
		return &out[i]
	}
	for _, r := range ev.Readings {
		s := at(key{r.Sensor, r.Metric})
		s.Points = append(s.Points, console.EvidencePoint{At: r.At, Value: r.Value})
	}
	for i := range ev.Accel {
		c := &ev.Accel[i]
		if c.RateHz <= 0 {
			continue
		}
		s := at(key{c.Sensor, console.MetricAccel})
		n := min(len(c.X), len(c.Y), len(c.Z))
		for j := 0; j < n; j++ {
			t := c.SampleTime(j)
			if t.Before(from) || t.After(to) {
				continue
			}
			x, y, z := float64(c.X[j]), float64(c.Y[j]), float64(c.Z[j])
			s.Points = append(s.Points, console.EvidencePoint{At: t, Value: math.Sqrt(x*x + y*y + z*z)})
		}
	}
	for i := range out {
		slices.SortStableFunc(out[i].Points, func(a, b console.EvidencePoint) int { return a.At.Compare(b.At) })
	}
	return out, nil
}
