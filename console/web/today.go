package web

// Today: the social worker's caseload ranked by need, each resident with
// the reasons in words (docs/console.md, "Today"). The rules are pure
// functions of what the store returned and of now, tested in
// today_test.go; the handler only gathers their inputs.

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// CaseloadReader reads one social worker's caseload over a period: the
// incidents of their residents opened in it and the visits and calls made
// in it (Today's ranking and the monthly caseload report). Incidents come
// the oldest first.
type CaseloadReader interface {
	CaseloadIncidents(ctx context.Context, socialWorkerID string, from, to time.Time) ([]dispatch.Incident, error)
	CaseloadVisits(ctx context.Context, socialWorkerID string, from, to time.Time) ([]console.Visit, error)
}

// Activity is compared over these windows: the last 2 days against up to
// 28 days before them. It is judged with at least a day of recent data and
// a day of baseline, each a whole daily cycle (hours without data are a
// quiet hub, not a quiet resident), so a drop over the last two days is
// seen from a home's fourth day; before that it is "not enough data yet",
// never "no decline".
const (
	activityRecent       = 48 * time.Hour
	activityWindow       = 30 * 24 * time.Hour
	activityMinRecent    = 24 // hours with data
	activityMinBaseline  = 24
	activityDropRatio    = 0.5 // below: dropping
	activitySevereRatio  = 0.3 // below: dropping sharply
	activityLowRatio     = 0.7 // below: lower than usual (shown, ranked low)
	incidentLookbackDays = 14  // a follow-up visit is owed for incidents this recent
)

// activityCheck is a resident's activity against their own baseline.
type activityCheck struct {
	Judged  bool // enough data to say
	Percent int  // recent motion per hour of data, as a percentage of the baseline's
	Hours   int  // hours with data so far (what "not enough data yet" has)
	Dropped bool // below activityDropRatio
}

func assessActivity(a console.ActivityWindow) activityCheck {
	hours := a.RecentHours + a.BaselineHours
	if a.RecentHours < activityMinRecent || a.BaselineHours < activityMinBaseline || a.BaselineSum <= 0 {
		return activityCheck{Hours: hours}
	}
	ratio := (a.RecentSum / float64(a.RecentHours)) / (a.BaselineSum / float64(a.BaselineHours))
	return activityCheck{Judged: true, Percent: int(ratio*100 + 0.5), Hours: hours, Dropped: ratio < activityDropRatio}
}

// activityOfHourly is a resident's activity window from their hourly
// motion (the resident page has it already for the heatmap).
func activityOfHourly(motion []console.HourlyPoint, now time.Time) console.ActivityWindow {
	var a console.ActivityWindow
	split := now.Add(-activityRecent)
	for _, pt := range motion {
		if pt.Count == 0 || pt.Hour.Before(now.Add(-activityWindow)) {
			continue
		}
		if pt.Hour.Before(split) {
			a.BaselineSum += pt.Sum
			a.BaselineHours++
		} else {
			a.RecentSum += pt.Sum
			a.RecentHours++
		}
	}
	return a
}

// nextContact plans a resident's next contact for their own social worker's
// view of the resident page, with the same rules as Today: their visits
// (the page's list), their recent incidents and their activity.
func (w *web) nextContact(ctx context.Context, rc *reqCtx, d *residentData, now time.Time) error {
	s := console.VisitSummary{ResidentID: d.Resident.ID}
	for _, v := range d.Visits {
		switch {
		case v.Kind == console.VisitHome && v.At.After(s.LastVisit):
			s.LastVisit = v.At
		case v.Kind == console.VisitCall && v.At.After(s.LastCall):
			s.LastCall = v.At
		}
		if v.Next.After(s.Next) {
			s.Next = v.Next
		}
	}
	sig := visitSignals{ActivityDrop: d.activity.Judged && d.activity.Dropped}
	if w.deps.Caseload != nil {
		today := startOfDay(now.In(w.cfg.Location))
		incs, err := w.deps.Caseload.CaseloadIncidents(ctx, rc.account.ID, today.AddDate(0, 0, -fallWindowDays), now.Add(time.Second))
		if err != nil {
			return err
		}
		incs = slices.DeleteFunc(incs, func(inc dispatch.Incident) bool { return inc.ResidentID != d.Resident.ID })
		sig.LastEvent = lastFollowUp(incs, today)
		sig.Falls = countFalls(incs, now)
		d.Falls = sig.Falls
	}
	d.Next, d.HasNext = planVisit(d.Resident, s, sig, now, w.cfg.Location), true
	return nil
}

// reason is one thing about a resident that needs attention, with the
// points it adds to their rank. The page puts it into words (Reason).
type reason struct {
	Kind   string // a "today.r.*" text
	Points int
	N      int
	Causes []detectors.Cause
	Faults []devices.Fault
	Hub    devices.HubID
	Date   time.Time
	Visit  console.VisitKind
}

// Points of each reason (docs/console.md has the table). An open
// emergency outranks everything; today's incidents, repeated falls, a
// sharp drop in activity, no working hub and an overdue visit follow.
const (
	pointsOpenP1          = 100 // per open emergency or welfare incident of priority 1
	pointsOpenOther       = 70  // per open one of lower priority
	pointsTodayP1         = 50  // per incident opened today (open or closed), priority 1
	pointsTodayOther      = 30  // per incident opened today, lower priority
	pointsTodayFalse      = 10  // per false alarm today
	pointsPerFall         = 15  // per fall in the last 30 days, got-up falls included
	pointsRepeatedFalls   = 20  // two or more falls in 30 days (fall-prevention screening)
	pointsActivitySevere  = 45
	pointsActivityDrop    = 35
	pointsActivityLow     = 10
	pointsNoData          = 5 // a new home: worth a look, below anything real
	pointsNoHub           = 40
	pointsNeverHeard      = 30 // a hub that never connected
	pointsDeviceMax       = 50
	pointsVisitOverdue    = 20 // plus pointsPerDayOverdue a day, up to pointsVisitOverdueMax
	pointsPerDayOverdue   = 2
	pointsVisitOverdueMax = 50
	pointsVisitToday      = 10
)

var faultPoints = map[devices.Fault]int{
	devices.FaultOffline: 35, devices.FaultPowerLost: 20, devices.FaultSensorSilent: 15, devices.FaultSensorFault: 15,
	devices.FaultBatteryLow: 10, devices.FaultEndOfLife: 10, devices.FaultClockSkew: 5,
}

// needsFollowUp says whether an incident calls for a follow-up visit: an
// emergency or welfare incident that was not a false alarm.
func needsFollowUp(inc dispatch.Incident) bool {
	return !dispatch.IsDeviceHealth(inc.Cause, inc.Class) && !isFalseAlarm(inc)
}

// visitDue is a resident's next contact due: what, by when, and why.
type visitDue struct {
	Kind     console.VisitKind
	Due      time.Time // a local day
	Why      string    // regular, followup, falls, activity, scheduled
	Last     time.Time // the latest visit (or call, for a call)
	Next     time.Time // scheduled by the last record
	Overdue  bool
	DaysOver int
}

// visitSignals are what brings a contact forward.
type visitSignals struct {
	LastEvent    time.Time // the latest incident that calls for a follow-up visit
	ActivityDrop bool
	// Falls: the second fall within 30 days (got-up ones included) calls
	// for a home visit the day after the latest, unless one followed it.
	Falls fallCount
}

// planVisit applies the visit cadence (docs/console.md): priority
// residents a home visit every month, the others every two months with a
// phone call in every month without a contact (the Ministry's rules,
// DOMAIN.md section 1); need brings it forward: a follow-up home visit the
// day after an emergency, welfare incident or fall with no visit since; a
// phone call the same day when activity dropped and nobody spoke to them
// in the last two days; a next contact the worker scheduled. The earliest
// is the one due; never visited means due today.
func planVisit(res devices.Resident, s console.VisitSummary, sig visitSignals, now time.Time, loc *time.Location) visitDue {
	today := startOfDay(now.In(loc))
	day := func(t time.Time) time.Time { return startOfDay(t.In(loc)) }
	lastContact := s.LastCall
	if s.LastVisit.After(lastContact) {
		lastContact = s.LastVisit
	}
	var cands []visitDue
	add := func(kind console.VisitKind, due time.Time, why string, last time.Time) {
		cands = append(cands, visitDue{Kind: kind, Due: due, Why: why, Last: last})
	}
	every := 2
	if res.Priority {
		every = 1
	}
	if s.LastVisit.IsZero() {
		add(console.VisitHome, today, "regular", s.LastVisit)
	} else {
		add(console.VisitHome, day(s.LastVisit).AddDate(0, every, 0), "regular", s.LastVisit)
	}
	if !res.Priority {
		if lastContact.IsZero() {
			add(console.VisitCall, today, "regular", lastContact)
		} else {
			add(console.VisitCall, day(lastContact).AddDate(0, 1, 0), "regular", lastContact)
		}
	}
	if !sig.LastEvent.IsZero() && s.LastVisit.Before(sig.LastEvent) {
		add(console.VisitHome, day(sig.LastEvent).AddDate(0, 0, 1), "followup", s.LastVisit)
	}
	if sig.Falls.Repeated() && s.LastVisit.Before(sig.Falls.Latest) {
		add(console.VisitHome, day(sig.Falls.Latest).AddDate(0, 0, 1), "falls", s.LastVisit)
	}
	if sig.ActivityDrop && lastContact.Before(now.Add(-activityRecent)) {
		add(console.VisitCall, today, "activity", lastContact)
	}
	if !s.Next.IsZero() && s.Next.After(lastContact) {
		add(console.VisitHome, day(s.Next), "scheduled", s.LastVisit)
	}
	// The earliest; on the same day a visit covers a call.
	best := slices.MinFunc(cands, func(a, b visitDue) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)))
	})
	best.Next = s.Next
	if best.Due.Before(today) {
		best.Overdue = true
		best.DaysOver = int(today.Sub(best.Due).Hours()/24 + 0.5)
	}
	return best
}

func kindRank(k console.VisitKind) int {
	if k == console.VisitHome {
		return 0
	}
	return 1
}

// needInputs is everything known about one resident for the ranking.
type needInputs struct {
	Resident   devices.Resident
	Open       []dispatch.Incident // open now (any day)
	Recent     []dispatch.Incident // opened in the look-back window (open or closed)
	HasHub     bool
	Devices    []deviceRow // hubs with faults
	NeverHeard []devices.HubID
	Activity   activityCheck
	Visit      visitDue
}

// residentNeed is one resident's rank on Today.
type residentNeed struct {
	Resident devices.Resident
	Rank     int // 1 is the most in need
	Score    int
	Reasons  []reason
	Visit    visitDue
}

// Need levels: an open incident alone is urgent; a sharp activity drop or
// no hub alone is high.
const (
	levelUrgent = pointsOpenOther
	levelHigh   = pointsActivityDrop
	levelMedium = 15
)

// Level is the need in one word: urgent, high, medium, low.
func (n residentNeed) Level() string {
	switch {
	case n.Score >= levelUrgent:
		return "urgent"
	case n.Score >= levelHigh:
		return "high"
	case n.Score >= levelMedium:
		return "medium"
	}
	return "low"
}

// assessNeed scores one resident and says why, the weightiest reason first.
func assessNeed(in needInputs, now time.Time, loc *time.Location) residentNeed {
	n := residentNeed{Resident: in.Resident, Visit: in.Visit}
	add := func(r reason) {
		n.Reasons = append(n.Reasons, r)
		n.Score += r.Points
	}
	today := startOfDay(now.In(loc))

	var open []detectors.Cause
	openPts := 0
	for _, inc := range in.Open {
		if dispatch.IsDeviceHealth(inc.Cause, inc.Class) {
			continue // device faults are ranked below, from the hubs' health
		}
		open = append(open, inc.Cause)
		openPts += cond(inc.Priority <= 1, pointsOpenP1, pointsOpenOther)
	}
	if len(open) > 0 {
		add(reason{Kind: "open", Points: openPts, N: len(open), Causes: open})
	}
	var todays, falses []detectors.Cause
	todayPts := 0
	for _, inc := range in.Recent {
		if dispatch.IsDeviceHealth(inc.Cause, inc.Class) {
			continue
		}
		if !inc.OpenedAt.Before(today) {
			if isFalseAlarm(inc) {
				falses = append(falses, inc.Cause)
				todayPts += pointsTodayFalse
			} else {
				todays = append(todays, inc.Cause)
				todayPts += cond(inc.Priority <= 1, pointsTodayP1, pointsTodayOther)
			}
		}
	}
	if len(todays)+len(falses) > 0 {
		add(reason{Kind: "today", Points: todayPts, N: len(todays) + len(falses), Causes: append(todays, falses...)})
	}
	if falls := countFalls(in.Recent, now); falls.N > 0 {
		add(reason{Kind: "falls", Points: falls.N*pointsPerFall + cond(falls.Repeated(), pointsRepeatedFalls, 0), N: falls.N})
	}
	switch a := in.Activity; {
	case !in.HasHub:
		add(reason{Kind: "nohub", Points: pointsNoHub})
	case !a.Judged:
		add(reason{Kind: "nodata", Points: pointsNoData, N: a.Hours})
	case a.Percent < int(activitySevereRatio*100):
		add(reason{Kind: "drop", Points: pointsActivitySevere, N: a.Percent})
	case a.Dropped:
		add(reason{Kind: "drop", Points: pointsActivityDrop, N: a.Percent})
	case a.Percent < int(activityLowRatio*100):
		add(reason{Kind: "low", Points: pointsActivityLow, N: a.Percent})
	}
	for _, h := range in.NeverHeard {
		add(reason{Kind: "neverheard", Points: pointsNeverHeard, Hub: h})
	}
	for _, d := range in.Devices {
		pts := 0
		for _, f := range d.Faults {
			pts += cmp.Or(faultPoints[f], 5)
		}
		add(reason{Kind: "device", Points: min(pts, pointsDeviceMax), Faults: d.Faults, Hub: d.Hub})
	}
	switch v := in.Visit; {
	case v.Overdue:
		add(reason{Kind: "overdue", Points: min(pointsVisitOverdue+pointsPerDayOverdue*v.DaysOver, pointsVisitOverdueMax),
			N: v.DaysOver, Date: v.Due, Visit: v.Kind})
	case !v.Due.After(today):
		add(reason{Kind: "duetoday", Points: pointsVisitToday, Date: v.Due, Visit: v.Kind})
	}
	slices.SortStableFunc(n.Reasons, func(a, b reason) int { return cmp.Compare(b.Points, a.Points) })
	return n
}

func cond(c bool, a, b int) int {
	if c {
		return a
	}
	return b
}

// rankNeeds orders residents by need: the highest score first, then the
// earliest contact due, then by name. Residents with nothing to say are
// left out of the ranking (counted on the page).
func rankNeeds(all []residentNeed) []residentNeed {
	out := slices.DeleteFunc(slices.Clone(all), func(n residentNeed) bool { return n.Score == 0 })
	slices.SortStableFunc(out, func(a, b residentNeed) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), a.Visit.Due.Compare(b.Visit.Due), cmp.Compare(a.Resident.Name, b.Resident.Name))
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

// ---- the page ----

type incidentRow struct {
	dispatch.Incident
	Resident devices.Resident
}

type deviceRow struct {
	Resident devices.Resident
	Hub      devices.HubID
	NoHub    bool
	Never    bool // a hub that was never heard from
	Faults   []devices.Fault
	LastSeen time.Time
}

type activityRow struct {
	Resident devices.Resident
	Check    activityCheck
}

type visitRow struct {
	Resident devices.Resident
	visitDue
}

type todayData struct {
	Caseload  int
	Ranked    []residentNeed
	Calm      int // residents with nothing to say
	Incidents []incidentRow
	Devices   []deviceRow
	Activity  []activityRow
	Visits    []visitRow
	Today     time.Time
}

// visitHorizon: the visit list shows what is due within a week.
const visitHorizon = 7

func (w *web) today(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, err := w.gatherToday(r.Context(), rc.account.ID, w.cfg.Now())
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.render(rw, r, "today", http.StatusOK, rc, d)
}

// gatherToday reads what the ranking needs for one social worker's
// caseload, one grouped query per source (and each hub's health), and
// ranks it.
func (w *web) gatherToday(ctx context.Context, socialWorkerID string, now time.Time) (todayData, error) {
	loc := w.cfg.Location
	mine, err := w.myResidents(ctx, socialWorkerID)
	if err != nil {
		return todayData{}, err
	}
	today := startOfDay(now.In(loc))
	d := todayData{Caseload: len(mine), Today: today}
	in := make(map[devices.ResidentID]*needInputs, len(mine))
	for _, res := range mine {
		in[res.ID] = &needInputs{Resident: res}
	}
	if err := w.todayIncidents(ctx, socialWorkerID, in, today, now); err != nil {
		return d, err
	}
	if d.Devices, err = w.todayDevices(ctx, mine, in); err != nil {
		return d, err
	}
	if w.deps.Wellbeing != nil {
		windows, err := w.deps.Wellbeing.CaseloadActivity(ctx, socialWorkerID, now.Add(-activityWindow), now.Add(-activityRecent), now)
		if err != nil {
			return d, err
		}
		for _, a := range windows {
			if n := in[a.ResidentID]; n != nil {
				n.Activity = assessActivity(a)
			}
		}
	}
	var sums map[devices.ResidentID]console.VisitSummary
	if w.deps.Visits != nil {
		list, err := w.deps.Visits.VisitSummaries(ctx, socialWorkerID)
		if err != nil {
			return d, err
		}
		sums = make(map[devices.ResidentID]console.VisitSummary, len(list))
		for _, s := range list {
			sums[s.ResidentID] = s
		}
	}

	var all []residentNeed
	for _, res := range mine {
		n := in[res.ID]
		if sums != nil {
			s := sums[res.ID]
			s.ResidentID = res.ID
			sig := visitSignals{LastEvent: lastFollowUp(n.Recent, today), ActivityDrop: n.Activity.Judged && n.Activity.Dropped,
				Falls: countFalls(n.Recent, now)}
			n.Visit = planVisit(res, s, sig, now, loc)
			if !n.Visit.Due.After(today.AddDate(0, 0, visitHorizon)) {
				d.Visits = append(d.Visits, visitRow{Resident: res, visitDue: n.Visit})
			}
		}
		for _, inc := range n.Open {
			d.Incidents = append(d.Incidents, incidentRow{Incident: inc, Resident: res})
		}
		for _, inc := range n.Recent {
			if inc.State.Closed() && !inc.OpenedAt.Before(today) {
				d.Incidents = append(d.Incidents, incidentRow{Incident: inc, Resident: res})
			}
		}
		if n.HasHub && (!n.Activity.Judged || n.Activity.Percent < int(activityLowRatio*100)) {
			d.Activity = append(d.Activity, activityRow{Resident: res, Check: n.Activity})
		}
		all = append(all, assessNeed(*n, now, loc))
	}
	d.Ranked = rankNeeds(all)
	d.Calm = len(mine) - len(d.Ranked)
	d.Incidents = slices.DeleteFunc(d.Incidents, func(r incidentRow) bool {
		return dispatch.IsDeviceHealth(r.Cause, r.Class)
	})
	slices.SortFunc(d.Incidents, func(a, b incidentRow) int {
		return cmp.Or(cmp.Compare(boolInt(a.State.Closed()), boolInt(b.State.Closed())), cmp.Compare(a.Priority, b.Priority), b.OpenedAt.Compare(a.OpenedAt))
	})
	slices.SortFunc(d.Activity, func(a, b activityRow) int {
		return cmp.Or(cmp.Compare(boolInt(!a.Check.Judged), boolInt(!b.Check.Judged)), cmp.Compare(a.Check.Percent, b.Check.Percent),
			cmp.Compare(a.Resident.Name, b.Resident.Name))
	})
	slices.SortFunc(d.Visits, func(a, b visitRow) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.Resident.Name, b.Resident.Name))
	})
	return d, nil
}

// todayIncidents fills each resident's incidents of the look-back window
// (this month and the last 30 days, for falls, with their class) and the
// open ones, older ones included.
func (w *web) todayIncidents(ctx context.Context, socialWorkerID string, in map[devices.ResidentID]*needInputs, today, now time.Time) error {
	from := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, today.Location())
	if back := today.AddDate(0, 0, -max(incidentLookbackDays, fallWindowDays)); back.Before(from) {
		from = back
	}
	seen := map[string]bool{}
	if w.deps.Caseload != nil {
		incs, err := w.deps.Caseload.CaseloadIncidents(ctx, socialWorkerID, from, now.Add(time.Second))
		if err != nil {
			return err
		}
		for _, inc := range incs {
			n := in[inc.ResidentID]
			if n == nil {
				continue // never another worker's
			}
			seen[inc.ID] = true
			n.Recent = append(n.Recent, inc)
			if !inc.State.Closed() {
				n.Open = append(n.Open, inc)
			}
		}
	}
	if w.deps.Incidents == nil || len(in) == 0 {
		return nil
	}
	ids := make([]devices.ResidentID, 0, len(in))
	for id := range in {
		ids = append(ids, id)
	}
	open, err := w.deps.Incidents.OpenIncidentsForResidents(ctx, ids)
	if err != nil {
		return err
	}
	for _, s := range open {
		if n := in[s.ResidentID]; n != nil && !seen[s.ID] {
			n.Open = append(n.Open, dispatch.Incident{ID: s.ID, ResidentID: s.ResidentID, Cause: detectors.Cause(s.Cause),
				Priority: detectors.Priority(s.Priority), State: dispatch.State(s.State), OpenedAt: s.OpenedAt, Class: detectors.ClassEmergency})
		}
	}
	return nil
}

// todayDevices reads each resident's hubs and their health: no hub, a hub
// never heard from, faults.
func (w *web) todayDevices(ctx context.Context, mine []devices.Resident, in map[devices.ResidentID]*needInputs) ([]deviceRow, error) {
	var rows []deviceRow
	for _, res := range mine {
		n := in[res.ID]
		hubs, err := w.deps.Residents.ListHubs(ctx, console.ListQuery{ResidentID: res.ID, Limit: 100})
		if err != nil {
			return nil, err
		}
		n.HasHub = len(hubs) > 0
		if !n.HasHub {
			rows = append(rows, deviceRow{Resident: res, NoHub: true})
		}
		if w.deps.Health == nil {
			continue
		}
		for _, hub := range hubs {
			h, err := w.deps.Health.HubHealth(ctx, hub.ID)
			if errors.Is(err, devices.ErrNotFound) {
				n.NeverHeard = append(n.NeverHeard, hub.ID)
				rows = append(rows, deviceRow{Resident: res, Hub: hub.ID, Never: true})
				continue
			} else if err != nil {
				return nil, err
			}
			faults := slices.Clone(h.Faults)
			for _, s := range h.Sensors {
				faults = append(faults, s.Faults...)
			}
			slices.Sort(faults)
			if faults = slices.Compact(faults); len(faults) > 0 {
				row := deviceRow{Resident: res, Hub: hub.ID, Faults: faults, LastSeen: h.LastSeen}
				n.Devices = append(n.Devices, row)
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

// lastFollowUp is when the latest incident that calls for a follow-up
// visit opened (zero: none); only incidents of the incidentLookbackDays
// before today do.
func lastFollowUp(incs []dispatch.Incident, today time.Time) time.Time {
	var last time.Time
	since := today.AddDate(0, 0, -incidentLookbackDays)
	for _, inc := range incs {
		if needsFollowUp(inc) && !inc.OpenedAt.Before(since) && inc.OpenedAt.After(last) {
			last = inc.OpenedAt
		}
	}
	return last
}
