package web

// Reports: time to acknowledge by escalation step and channel, against the
// alarm-centre norms (TSA: 97.5% within 60 s, 99% within 180 s), and false
// alarms by cause, device and home, to find the "sensitive" devices. Over a
// chosen period, on the page and as CSV.

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"iter"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// ReportSource yields the incidents opened in [from, to), the oldest first,
// without holding them all (a report may cover a year of national
// incidents); an error is yielded once, last.
type ReportSource interface {
	ReportIncidents(ctx context.Context, from, to time.Time) iter.Seq2[console.ReportIncident, error]
}

// TSA norms for alarm calls answered (DOMAIN.md section 4).
const (
	normWithin60  = 0.975
	normWithin180 = 0.99
)

type ackGroup struct {
	Step, Channel       string
	N                   int
	P50, P90, P99       time.Duration
	Within60, Within180 float64 // shares in [0, 1]
}

func (g ackGroup) Meets60() bool  { return g.Within60 >= normWithin60 }
func (g ackGroup) Meets180() bool { return g.Within180 >= normWithin180 }

// durations counts times to acknowledge in fixed buckets, so that a
// report's memory does not grow with its incidents: 100 ms wide up to 10
// minutes (the norms are 60 and 180 s), 10 s wide up to a day, then one
// bucket. Percentiles are the lower edge of their bucket; the shares
// within 60 and 180 s are exact.
type durations struct {
	buckets           map[int32]int64
	n, in60, in180    int64
	overflowAt, maxAt time.Duration
}

const (
	fineWidth   = 100 * time.Millisecond
	fineUpTo    = 10 * time.Minute
	coarseWidth = 10 * time.Second
	coarseUpTo  = 24 * time.Hour
)

func bucketOf(d time.Duration) int32 {
	switch {
	case d < 0:
		return 0
	case d < fineUpTo:
		return int32(d / fineWidth)
	case d < coarseUpTo:
		return int32(fineUpTo/fineWidth) + int32((d-fineUpTo)/coarseWidth)
	}
	return int32(fineUpTo/fineWidth) + int32((coarseUpTo-fineUpTo)/coarseWidth)
}

func (b *durations) lowerEdge(k int32) time.Duration {
	fine := int32(fineUpTo / fineWidth)
	if k < fine {
		return time.Duration(k) * fineWidth
	}
	if d := fineUpTo + time.Duration(k-fine)*coarseWidth; d < coarseUpTo {
		return d
	}
	return b.overflowAt // the shortest of those over a day
}

func (b *durations) add(d time.Duration) {
	if b.buckets == nil {
		b.buckets = map[int32]int64{}
	}
	b.buckets[bucketOf(d)]++
	b.n++
	if d <= 60*time.Second {
		b.in60++
	}
	if d <= 180*time.Second {
		b.in180++
	}
	if d >= coarseUpTo && (b.overflowAt == 0 || d < b.overflowAt) {
		b.overflowAt = d
	}
}

// percentiles are nearest-rank percentiles, one per p, ascending.
func (b *durations) percentiles(ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if b.n == 0 {
		return out
	}
	keys := make([]int32, 0, len(b.buckets))
	for k := range b.buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var seen int64
	i := 0
	for _, k := range keys {
		seen += b.buckets[k]
		for ; i < len(ps) && seen >= max(int64(math.Ceil(ps[i]*float64(b.n))), 1); i++ {
			out[i] = b.lowerEdge(k)
		}
	}
	return out
}

func summarise(step, channel string, ds *durations) ackGroup {
	g := ackGroup{Step: step, Channel: channel, N: int(ds.n)}
	p := ds.percentiles(.5, .9, .99)
	g.P50, g.P90, g.P99 = p[0], p[1], p[2]
	if ds.n > 0 {
		g.Within60, g.Within180 = float64(ds.in60)/float64(ds.n), float64(ds.in180)/float64(ds.n)
	}
	return g
}

// reported says whether an incident counts in the reports: device-health
// alerts go to technicians and are neither answered by people in seconds
// nor false alarms.
func reported(inc dispatch.Incident) bool { return inc.Class != detectors.ClassDeviceHealth }

// ackStep is the step an acknowledgement came at: "1", "2", ... for a
// notification's recipient, "console" or "119" otherwise.
func ackStep(ri console.ReportIncident) string {
	if ri.AckStep >= 0 {
		return strconv.Itoa(ri.AckStep + 1)
	}
	if _, via := handledAt(ri.Incident); via == string(dispatch.Channel119) {
		return "119"
	}
	return "console"
}

// handledAt is when a person took the incident on: its acknowledgement,
// or, for one resolved without being acknowledged first, its resolution
// (on the console, or by 119 closing it).
func handledAt(inc dispatch.Incident) (time.Time, string) {
	switch {
	case !inc.AcknowledgedAt.IsZero():
		return inc.AcknowledgedAt, string(inc.AcknowledgedVia)
	case inc.State == dispatch.StateResolved && inc.Status119 == string(dispatch.Answer119Closed):
		return inc.ClosedAt, string(dispatch.Channel119)
	case inc.State == dispatch.StateResolved:
		return inc.ClosedAt, string(dispatch.ChannelConsole)
	}
	return time.Time{}, ""
}

// reportTally adds a report's incidents up one at a time: its memory grows
// with the groups (steps and channels, causes, devices, homes), not with
// the incidents.
type reportTally struct {
	total, falseTotal int
	// ack: the time from opening to acknowledgement (handledAt) of every
	// incident taken on, and by step and channel; unacked counts the open
	// incidents nobody has taken on; incidents cancelled before anyone
	// answered (the resident's cancel) are in neither.
	all     durations
	byAck   map[ackKey]*durations
	unacked int
	// false alarms by cause, by device (hub and sensor) and by home.
	cause, device, home map[string]*falseRow
}

type ackKey struct{ step, channel string }

func newReportTally() *reportTally {
	return &reportTally{byAck: map[ackKey]*durations{},
		cause: map[string]*falseRow{}, device: map[string]*falseRow{}, home: map[string]*falseRow{}}
}

func (t *reportTally) add(ri console.ReportIncident) {
	inc := ri.Incident
	if !reported(inc) {
		return
	}
	f := isFalseAlarm(inc)
	t.total++
	if f {
		t.falseTotal++
	}
	if at, via := handledAt(inc); !at.IsZero() {
		d := at.Sub(inc.OpenedAt)
		t.all.add(d)
		k := ackKey{ackStep(ri), cmp.Or(ri.AckChannel, via)}
		ds := t.byAck[k]
		if ds == nil {
			ds = &durations{}
			t.byAck[k] = ds
		}
		ds.add(d)
	} else if !inc.State.Closed() {
		t.unacked++
	}
	count := func(m map[string]*falseRow, key string, proto falseRow) {
		r, ok := m[key]
		if !ok {
			proto.Key = key
			r = &proto
			m[key] = r
		}
		r.Total++
		if f {
			r.False++
		}
	}
	count(t.cause, string(inc.Cause), falseRow{Cause: inc.Cause})
	count(t.device, string(inc.Hub)+"/"+string(inc.Sensor), falseRow{Hub: inc.Hub, Sensor: inc.Sensor, Cause: inc.Cause})
	count(t.home, cmp.Or(string(inc.ResidentID), "hub:"+string(inc.Hub)), falseRow{Hub: inc.Hub, ResidentID: inc.ResidentID})
}

// ackGroups are the acknowledgement groups, every incident taken on first,
// then by step (numbered steps in order, then console and 119) and channel.
func (t *reportTally) ackGroups() []ackGroup {
	groups := []ackGroup{summarise("all", "all", &t.all)}
	keys := make([]ackKey, 0, len(t.byAck))
	for k := range t.byAck {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ackKey) int {
		an, aerr := strconv.Atoi(a.step)
		bn, berr := strconv.Atoi(b.step)
		switch {
		case aerr == nil && berr == nil && an != bn:
			return cmp.Compare(an, bn)
		case (aerr == nil) != (berr == nil):
			return boolInt(aerr != nil) - boolInt(berr != nil) // numbered steps first
		}
		return cmp.Or(cmp.Compare(a.step, b.step), cmp.Compare(a.channel, b.channel))
	})
	for _, k := range keys {
		groups = append(groups, summarise(k.step, k.channel, t.byAck[k]))
	}
	return groups
}

// falseRows are the false-alarm tables, the most false alarms first.
func (t *reportTally) falseRows() (byCause, byDevice, byHome []falseRow) {
	sorted := func(m map[string]*falseRow) []falseRow {
		out := make([]falseRow, 0, len(m))
		for _, r := range m {
			out = append(out, *r)
		}
		slices.SortFunc(out, func(a, b falseRow) int {
			return cmp.Or(cmp.Compare(b.False, a.False), cmp.Compare(b.Share(), a.Share()), cmp.Compare(a.Key, b.Key))
		})
		return out
	}
	return sorted(t.cause), sorted(t.device), sorted(t.home)
}

// ackReport and falseAlarmReport tally a list (tests).
func ackReport(list []console.ReportIncident) (groups []ackGroup, unacked int) {
	t := newReportTally()
	for _, ri := range list {
		t.add(ri)
	}
	return t.ackGroups(), t.unacked
}

// isFalseAlarm: resolved as a false alarm, or cancelled (by the resident
// in the check-in window, or by a dispatcher as a false alarm).
func isFalseAlarm(inc dispatch.Incident) bool {
	return inc.Disposition == dispatch.DispositionFalseAlarm || inc.State == dispatch.StateCancelled
}

type falseRow struct {
	Key          string
	Cause        detectors.Cause
	Hub          devices.HubID
	Sensor       devices.SensorID
	ResidentID   devices.ResidentID
	ResidentName string
	Total, False int
}

func (r falseRow) Share() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.False) / float64(r.Total)
}

func falseAlarmReport(list []console.ReportIncident) (byCause, byDevice, byHome []falseRow) {
	t := newReportTally()
	for _, ri := range list {
		t.add(ri)
	}
	return t.falseRows()
}

// ---- pages ----

func (w *web) reportRoutes() {
	w.mux.HandleFunc("GET /reports", w.signedIn(w.reports, console.RoleDispatcher, console.RoleAdmin, console.RoleSocialWorker))
	w.mux.HandleFunc("GET /reports/export.csv", w.signedIn(w.reportsCSV, console.RoleDispatcher, console.RoleAdmin, console.RoleSocialWorker))
	w.mux.HandleFunc("GET /reports/caseload", w.signedIn(w.caseloadPage, console.RoleSocialWorker))
	w.mux.HandleFunc("GET /reports/caseload.csv", w.signedIn(w.caseloadCSV, console.RoleSocialWorker))
}

type reportPeriod struct {
	From, To   time.Time // [From, To)
	FromS, ToS string    // the form's dates (To inclusive)
	Bad        bool
}

// period reads ?from=YYYY-MM-DD&to=YYYY-MM-DD (local days, both included);
// the default is the last 30 days.
func (w *web) period(r *http.Request) reportPeriod {
	loc := w.cfg.Location
	today := startOfDay(w.cfg.Now().In(loc))
	p := reportPeriod{From: today.AddDate(0, 0, -29), To: today.AddDate(0, 0, 1)}
	if s := r.URL.Query().Get("from"); s != "" {
		if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
			p.From = t
		} else {
			p.Bad = true
		}
	}
	if s := r.URL.Query().Get("to"); s != "" {
		if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
			p.To = t.AddDate(0, 0, 1)
		} else {
			p.Bad = true
		}
	}
	if !p.To.After(p.From) || p.To.Sub(p.From) > 400*24*time.Hour {
		p.Bad = true
	}
	if p.Bad {
		p.From, p.To = today.AddDate(0, 0, -29), today.AddDate(0, 0, 1)
	}
	p.FromS, p.ToS = p.From.Format("2006-01-02"), p.To.AddDate(0, 0, -1).Format("2006-01-02")
	return p
}

// reportIncidents yields the period's incidents the person may see: a
// social worker only their residents'.
func (w *web) reportIncidents(ctx context.Context, rc *reqCtx, p reportPeriod) (iter.Seq2[console.ReportIncident, error], error) {
	all := w.deps.Reports.ReportIncidents(ctx, p.From, p.To)
	if rc.account.Role != console.RoleSocialWorker {
		s := w.scopeOf(rc)
		if s.National() {
			return all, nil
		}
		// A regional account's report counts its regions' incidents.
		return func(yield func(console.ReportIncident, error) bool) {
			for ri, err := range all {
				if err != nil {
					yield(ri, err)
					return
				}
				ok, err := s.Incident(ctx, ri.Incident)
				if err != nil {
					yield(ri, err)
					return
				}
				if ok && !yield(ri, nil) {
					return
				}
			}
		}, nil
	}
	mine, err := w.myResidents(ctx, rc.account.ID)
	if err != nil {
		return nil, err
	}
	ids := make(map[devices.ResidentID]bool, len(mine))
	for _, r := range mine {
		ids[r.ID] = true
	}
	return func(yield func(console.ReportIncident, error) bool) {
		for ri, err := range all {
			if err != nil {
				yield(ri, err)
				return
			}
			if ids[ri.Incident.ResidentID] && !yield(ri, nil) {
				return
			}
		}
	}, nil
}

// tallyReport adds up the period's incidents the person may see.
func (w *web) tallyReport(ctx context.Context, rc *reqCtx, p reportPeriod) (*reportTally, error) {
	incidents, err := w.reportIncidents(ctx, rc, p)
	if err != nil {
		return nil, err
	}
	t := newReportTally()
	for ri, err := range incidents {
		if err != nil {
			return nil, err
		}
		t.add(ri)
	}
	return t, nil
}

type reportsData struct {
	Connected       bool
	Period          reportPeriod
	Total           int
	Ack             []ackGroup
	Unacked         int
	ByCause         []falseRow
	ByDevice        []falseRow
	ByHome          []falseRow
	FalseTotal      int
	Norm60, Norm180 float64
	Scoped          bool // a social worker's own residents only
	Targets         []targetRow
}

const reportTopRows = 20

func (w *web) reports(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d := reportsData{Period: w.period(r), Norm60: normWithin60, Norm180: normWithin180, Scoped: rc.account.Role == console.RoleSocialWorker}
	if w.deps.Reports != nil {
		d.Connected = true
		t, err := w.tallyReport(r.Context(), rc, d.Period)
		if err != nil {
			w.fail(rw, r, rc, err)
			return
		}
		d.Total, d.FalseTotal = t.total, t.falseTotal
		d.Ack, d.Unacked = t.ackGroups(), t.unacked
		d.Targets = answerTargets(d.Ack[0])
		d.ByCause, d.ByDevice, d.ByHome = t.falseRows()
		d.ByDevice = onlyFalse(d.ByDevice, reportTopRows)
		d.ByHome = onlyFalse(d.ByHome, reportTopRows)
		w.nameHomes(r.Context(), d.ByHome)
	}
	w.render(rw, r, "reports", http.StatusOK, rc, d)
}

// onlyFalse keeps the first n rows that had any false alarm.
func onlyFalse(rows []falseRow, n int) []falseRow {
	rows = slices.DeleteFunc(rows, func(r falseRow) bool { return r.False == 0 })
	return rows[:min(n, len(rows))]
}

func (w *web) nameHomes(ctx context.Context, rows []falseRow) {
	for i := range rows {
		if rows[i].ResidentID == "" {
			continue
		}
		if res, err := w.deps.Residents.GetResident(ctx, rows[i].ResidentID); err == nil {
			rows[i].ResidentName = res.Name
		}
	}
}

// reportsCSV exports one table: kind=ack (the default), false, incidents.
func (w *web) reportsCSV(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if w.deps.Reports == nil {
		w.errorPage(rw, r, rc, http.StatusNotFound)
		return
	}
	p := w.period(r)
	kind := cmp.Or(r.URL.Query().Get("kind"), "ack")
	if kind != "ack" && kind != "false" && kind != "incidents" {
		w.errorPage(rw, r, rc, http.StatusBadRequest)
		return
	}
	var tally *reportTally
	var incidents iter.Seq2[console.ReportIncident, error]
	var err error
	if kind == "incidents" {
		incidents, err = w.reportIncidents(r.Context(), rc, p) // streamed below, a page at a time
	} else {
		tally, err = w.tallyReport(r.Context(), rc, p)
	}
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	if err := w.audit(r.Context(), rc, "report.export", "", "", fmt.Sprintf("%s %s..%s", kind, p.FromS, p.ToS)); err != nil {
		w.errorPage(rw, r, rc, http.StatusInternalServerError)
		return
	}
	// The file is written as it is made: the incidents of a long period are
	// never all in memory, nor is their CSV.
	cw := csv.NewWriter(rw)
	started := false
	begin := func(header ...string) {
		if !started {
			started = true
			rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
			rw.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="dolbom-%s-%s-%s.csv"`, kind, p.FromS, p.ToS))
			_, _ = io.WriteString(rw, "\uFEFF") // spreadsheet programs then read the Korean as UTF-8
			_ = cw.Write(header)
		}
	}
	secs := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) }
	pct := func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) }
	switch kind {
	case "ack":
		begin("step", "channel", "acknowledged", "p50_s", "p90_s", "p99_s", "within_60s_pct", "within_180s_pct")
		for _, g := range tally.ackGroups() {
			_ = cw.Write([]string{g.Step, g.Channel, strconv.Itoa(g.N), secs(g.P50), secs(g.P90), secs(g.P99), pct(g.Within60), pct(g.Within180)})
		}
		_ = cw.Write([]string{"unacknowledged", "", strconv.Itoa(tally.unacked), "", "", "", "", ""})
	case "false":
		begin("group", "cause", "hub", "sensor", "resident", "incidents", "false_alarms", "false_pct")
		byCause, byDevice, byHome := tally.falseRows()
		for _, g := range []struct {
			name string
			rows []falseRow
		}{{"cause", byCause}, {"device", byDevice}, {"home", byHome}} {
			for _, fr := range g.rows {
				cause := string(fr.Cause)
				if g.name == "home" {
					cause = ""
				}
				_ = cw.Write([]string{g.name, cause, string(fr.Hub), string(fr.Sensor), string(fr.ResidentID), strconv.Itoa(fr.Total), strconv.Itoa(fr.False), pct(fr.Share())})
			}
		}
	case "incidents":
		header := []string{"incident_id", "opened_at", "class", "cause", "priority", "hub", "sensor", "resident", "state", "disposition",
			"acknowledged_at", "ack_s", "ack_step", "ack_channel", "acknowledged_by", "status_119", "closed_at", "false_alarm"}
		ts := func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(w.cfg.Location).Format(time.RFC3339)
		}
		for ri, err := range incidents {
			if err != nil {
				if !started {
					w.fail(rw, r, rc, err)
					return
				}
				// Too late for an error page: cut the response short, so
				// that the client does not take a partial file for whole.
				w.log.Error().Err(err).Msg("report export cut short")
				cw.Flush()
				panic(http.ErrAbortHandler)
			}
			begin(header...)
			inc := ri.Incident
			ack, step := "", ""
			if !inc.AcknowledgedAt.IsZero() {
				ack, step = secs(inc.AcknowledgedAt.Sub(inc.OpenedAt)), ackStep(ri)
			}
			_ = cw.Write([]string{inc.ID, ts(inc.OpenedAt), string(inc.Class), string(inc.Cause), strconv.Itoa(int(inc.Priority)), string(inc.Hub),
				string(inc.Sensor), string(inc.ResidentID), string(inc.State), string(inc.Disposition), ts(inc.AcknowledgedAt), ack, step,
				cmp.Or(ri.AckChannel, string(inc.AcknowledgedVia)), inc.AcknowledgedBy, inc.Status119, ts(inc.ClosedAt), strconv.FormatBool(isFalseAlarm(inc))})
		}
		begin(header...) // an empty period
	}
	cw.Flush()
}

// Percent formats a share for the page.
func (p *pageData) Percent(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

// Seconds formats a duration in seconds for the reports.
func (p *pageData) Seconds(d time.Duration) string {
	if d < 10*time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + p.T("unit.s")
	}
	return formatWaited(d, p.Lang)
}
