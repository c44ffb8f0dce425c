package api

// The fleet view's HTTP side (docs/api.md, "Fleet"): a page of hubs with
// their sensors, the counts per 시도, 시군구, model and firmware, and the
// CSV of every matching hub. The admin API serves it with the national
// token; the console (console/web) serves the same answers to a signed-in
// admin, within the account's regions. The scope always comes from the
// caller's account, never from the request.

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
)

// Fleet answers the fleet's requests from a console.FleetReader.
type Fleet struct {
	store console.FleetReader
	now   func() time.Time
	// badFilter counts refused filters by parameter: bad input costs a
	// counter, not a log line.
	badFilter *prometheus.CounterVec
}

// NewFleet returns the fleet's handlers. reg may be nil (the counter is
// then kept but not exported); now nil is time.Now.
func NewFleet(store console.FleetReader, now func() time.Time, reg prometheus.Registerer) *Fleet {
	if now == nil {
		now = time.Now
	}
	return &Fleet{store: store, now: now,
		badFilter: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Namespace: "dolbom", Subsystem: "console", Name: "fleet_bad_filter_total",
			Help: "Fleet requests (API, page, CSV) refused for a bad filter, by parameter."}, []string{"param"})}
}

// fleetMaxDays bounds the day filters (ten years: longer than any hub's
// life).
const fleetMaxDays = 3650

// FleetParams are the query parameters a fleet request reads, for the
// console's form and links.
var FleetParams = []string{"region", "model", "firmware", "battery_below", "offline_days", "eol_within_days"}

// Query reads a fleet request's filters (docs/api.md) within scope. A bad
// one, or an unknown parameter (a misspelt filter would otherwise list
// everything), is a 400 naming the parameter and what it takes.
func (f *Fleet) Query(v url.Values, scope []string) (console.FleetQuery, error) {
	q := console.FleetQuery{Scope: scope, Now: f.now(), Model: strings.TrimSpace(v.Get("model")),
		Firmware: strings.TrimSpace(v.Get("firmware")), After: v.Get("after")}
	bad := func(param, format string, args ...any) (console.FleetQuery, error) {
		f.badFilter.WithLabelValues(param).Inc()
		return q, BadRequest(param, format, args...)
	}
	allowed := append(slices.Clone(FleetParams), "after", "limit")
	for name := range v {
		if !slices.Contains(allowed, name) {
			// The label is "unknown", not the name: a client's typos must
			// not grow the counter's series.
			f.badFilter.WithLabelValues("unknown").Inc()
			return q, BadRequest(name, "unknown query parameter %q; this route takes: %s", name, strings.Join(allowed, ", "))
		}
	}
	if s := strings.TrimSpace(v.Get("region")); s != "" {
		codes, err := console.NormalizeRegions(console.RoleAdmin, []string{s})
		if err != nil {
			return bad("region", "%v", err)
		}
		q.Region = codes[0]
	}
	if s := strings.TrimSpace(v.Get("battery_below")); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(n) || n <= 0 || n > 100 {
			return bad("battery_below", "battery_below %q: want a percentage above 0 and at most 100", s)
		}
		q.BatteryBelow = n
	}
	days := func(param string, min int) (time.Duration, bool, error) {
		s := strings.TrimSpace(v.Get(param))
		if s == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < min || n > fleetMaxDays {
			f.badFilter.WithLabelValues(param).Inc()
			return 0, false, BadRequest(param, "%s %q: want whole days from %d to %d", param, s, min, fleetMaxDays)
		}
		return time.Duration(n) * 24 * time.Hour, true, nil
	}
	var err error
	if q.OfflineFor, _, err = days("offline_days", 1); err != nil {
		return q, err
	}
	if q.EndOfLifeWithin, q.EndOfLifeSet, err = days("eol_within_days", 0); err != nil {
		return q, err
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return bad("limit", "limit %q: want 1 to %d", s, maxPageSize)
		}
		q.Limit = n
	}
	if len(q.Model) > 100 || len(q.Firmware) > 100 || len(q.After) > devices.MaxIDLen {
		return bad("model", "model, firmware and after are at most 100 characters")
	}
	return q, nil
}

// Page returns one page of q and the cursor of the next ("" on the last).
func (f *Fleet) Page(ctx context.Context, q console.FleetQuery) ([]console.FleetHub, string, error) {
	size := q.Limit
	if size == 0 {
		size = defaultPageSize
	}
	q.Limit = size + 1 // one more, to learn whether another page exists
	hubs, err := f.store.FleetHubs(ctx, q)
	if err != nil {
		return nil, "", err
	}
	if len(hubs) > size {
		return hubs[:size], string(hubs[size-1].Hub), nil
	}
	return hubs, "", nil
}

// FleetCount is one row of the counts: the hubs of one 시도, 시군구, model
// or firmware.
type FleetCount struct {
	Key           string `json:"key"`            // region code, model or firmware; "" for none
	Name          string `json:"name,omitempty"` // the region's name
	Hubs          int    `json:"hubs"`
	Online        int    `json:"online"`
	LowBattery    int    `json:"low_battery"` // below console.FleetLowBattery %
	PastEndOfLife int    `json:"past_end_of_life"`
}

func (c *FleetCount) add(g console.FleetGroup) {
	c.Hubs += g.Hubs
	c.Online += g.Online
	c.LowBattery += g.LowBattery
	c.PastEndOfLife += g.PastEndOfLife
}

// FleetCounts are the counts of the hubs a query matches.
type FleetCounts struct {
	Total      FleetCount   `json:"total"`
	BySido     []FleetCount `json:"by_sido"`
	BySigungu  []FleetCount `json:"by_sigungu"`
	ByModel    []FleetCount `json:"by_model"`
	ByFirmware []FleetCount `json:"by_firmware"`
}

// Counts folds the store's groups (one per 시군구, model and firmware: a
// few thousand at most, never a row per hub) into the counts.
func (f *Fleet) Counts(ctx context.Context, q console.FleetQuery) (FleetCounts, error) {
	groups, err := f.store.FleetGroups(ctx, q)
	if err != nil {
		return FleetCounts{}, err
	}
	var out FleetCounts
	sido, sigungu, model, firmware := map[string]*FleetCount{}, map[string]*FleetCount{}, map[string]*FleetCount{}, map[string]*FleetCount{}
	bump := func(m map[string]*FleetCount, key string, g console.FleetGroup) {
		c := m[key]
		if c == nil {
			c = &FleetCount{Key: key}
			m[key] = c
		}
		c.add(g)
	}
	for _, g := range groups {
		out.Total.add(g)
		s := ""
		if len(g.District) >= 2 {
			s = g.District[:2]
		}
		bump(sido, s, g)
		bump(sigungu, g.District, g)
		bump(model, g.Model, g)
		bump(firmware, g.Firmware, g)
	}
	list := func(m map[string]*FleetCount, named bool) []FleetCount {
		out := make([]FleetCount, 0, len(m))
		for _, c := range m {
			if named {
				c.Name = RegionName(c.Key)
			}
			out = append(out, *c)
		}
		slices.SortFunc(out, func(a, b FleetCount) int { return strings.Compare(a.Key, b.Key) })
		return out
	}
	out.BySido, out.BySigungu = list(sido, true), list(sigungu, true)
	out.ByModel, out.ByFirmware = list(model, false), list(firmware, false)
	return out, nil
}

// RegionName names a 시도 or 시군구 code ("서울특별시", "서울특별시
// 종로구"); "" for none (a hub in stock) and the code itself when unknown.
func RegionName(code string) string {
	if code == "" {
		return ""
	}
	r, ok := region.Lookup(region.Code(code))
	if !ok {
		return code
	}
	if r.Code.IsSido() {
		return r.Name
	}
	if p, ok := region.Parent(r.Code); ok {
		return p.Name + " " + r.Name
	}
	return r.Name
}

// ServeList answers GET .../fleet as every list: {"items": [...],
// "next_after": cursor}.
func (f *Fleet) ServeList(w http.ResponseWriter, r *http.Request, scope []string, fail func(error)) {
	q, err := f.Query(r.URL.Query(), scope)
	if err != nil {
		fail(err)
		return
	}
	hubs, next, err := f.Page(r.Context(), q)
	if err != nil {
		fail(err)
		return
	}
	if hubs == nil {
		hubs = []console.FleetHub{}
	}
	for i := range hubs {
		if hubs[i].Sensors == nil {
			hubs[i].Sensors = []console.FleetSensor{}
		}
	}
	WriteJSON(w, http.StatusOK, page[console.FleetHub]{Items: hubs, NextAfter: next})
}

// ServeCounts answers GET .../fleet/counts.
func (f *Fleet) ServeCounts(w http.ResponseWriter, r *http.Request, scope []string, fail func(error)) {
	q, err := f.Query(r.URL.Query(), scope)
	if err != nil {
		fail(err)
		return
	}
	c, err := f.Counts(r.Context(), q)
	if err != nil {
		fail(err)
		return
	}
	WriteJSON(w, http.StatusOK, c)
}

// fleetCSVHeader is the CSV's first row (English keys, as the JSON's).
var fleetCSVHeader = []string{"hub_id", "resident_id", "sido", "sigungu", "district_code", "model", "firmware", "power", "battery",
	"online", "last_seen", "installed_at", "end_of_life", "sensors", "sensor_batteries",
	"firmware_reported"} // empty while firmware is the registry's declared version

// ServeCSV answers GET .../fleet.csv: every matching hub, read a page at a
// time (maxPageSize), as UTF-8 CSV with a byte order mark, so that Excel
// opens the Korean names right. A failure after the first row cannot
// change the status any more: the file then ends with a row that says so.
func (f *Fleet) ServeCSV(w http.ResponseWriter, r *http.Request, scope []string, fail func(error)) {
	q, err := f.Query(r.URL.Query(), scope)
	if err != nil {
		fail(err)
		return
	}
	q.Limit = maxPageSize
	hubs, next, err := f.Page(r.Context(), q)
	if err != nil {
		fail(err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="fleet-%s.csv"`, q.Now.Format("20060102")))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("\uFEFF"))
	cw := csv.NewWriter(w)
	_ = cw.Write(fleetCSVHeader)
	for {
		for _, h := range hubs {
			_ = cw.Write(fleetCSVRow(h))
		}
		cw.Flush()
		if next == "" || cw.Error() != nil {
			break
		}
		q.After, q.Limit = next, maxPageSize
		hubs, next, err = f.Page(r.Context(), q)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				_ = cw.Write([]string{"# error: the export stopped early: " + err.Error()})
			}
			break
		}
	}
	cw.Flush()
}

func fleetCSVRow(h console.FleetHub) []string {
	sido := ""
	if len(h.District) >= 2 {
		sido = RegionName(h.District[:2])
	}
	power := ""
	if h.PowerKnown {
		power = "battery"
		if h.OnMains {
			power = "mains"
		}
	}
	var sensors, batteries []string
	for _, s := range h.Sensors {
		sensors = append(sensors, SpreadsheetText(string(s.Sensor))+":"+string(s.Kind))
		batteries = append(batteries, string(s.Sensor)+":"+FleetBatteryText(s.Battery))
	}
	return []string{string(h.Hub), string(h.Resident), sido, RegionName(h.District), h.District, SpreadsheetText(h.Model), SpreadsheetText(h.Firmware), power,
		FleetBatteryText(h.Battery), strconv.FormatBool(h.Online), timeText(h.LastSeen), timeText(h.Installed), timeText(h.EndOfLife),
		strings.Join(sensors, " "), strings.Join(batteries, " "), timeText(h.FirmwareReported)}
}

// FleetBatteryText is a battery percentage as text, "" when unknown (-1).
func FleetBatteryText(b float64) string {
	if b < 0 {
		return ""
	}
	return strconv.FormatFloat(b, 'f', -1, 64)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// SpreadsheetText keeps a text (a typed name, a model or a firmware version
// a hub reports) from being run as a formula when a CSV is opened in a
// spreadsheet (one that begins with =, +, - or @).
func SpreadsheetText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// fleet serves one of the fleet's answers within the token's account's
// regions (none: the national admin's token, every hub).
func (a *adminAPI) fleet(serve func(f *Fleet, w http.ResponseWriter, r *http.Request, scope []string, fail func(error))) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Fleet == nil {
			WriteError(w, &Error{Status: http.StatusNotImplemented, Msg: "this gateway serves no fleet view"})
			return
		}
		serve(a.cfg.Fleet, w, r, accountOf(r.Context()).Regions, func(err error) { a.fail(w, r, err, "") })
	}
}
