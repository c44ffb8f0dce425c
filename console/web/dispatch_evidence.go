package web

// The incident page's evidence: the raw readings of the home around the
// moment the condition began, drawn as server-side SVG like the resident
// page's charts (no script, works offline, allowed by the CSP).

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// EvidencePoint is one sample.
type EvidencePoint struct {
	At    time.Time
	Value float64
}

// EvidenceSeries is one sensor's metric over a window, in time order.
// Accelerometer series carry the magnitude sqrt(x²+y²+z²) in g under
// MetricAccel.
type EvidenceSeries struct {
	Sensor devices.SensorID
	Metric devices.Metric
	Points []EvidencePoint
}

// MetricAccel names accelerometer magnitude series (dispatch's name for
// them among an evidence plan's metrics).
const MetricAccel = dispatch.EvidenceAccel

// EvidenceReader reads what a hub's sensors recorded in [from, to]: every
// raw reading and accelerometer chunk, each in time order (the chart draws
// the accelerometer as its magnitude in g).
type EvidenceReader interface {
	HubSamples(ctx context.Context, hub devices.HubID, from, to time.Time) ([]devices.Reading, []devices.AccelChunk, error)
}

// referenceLines are the published limits drawn on a metric's chart
// (DOMAIN.md section 3).
var referenceLines = map[devices.Metric][]float64{
	devices.MetricTemperature: {57},      // fixed heat limit (UL 521)
	devices.MetricHeartRate:   {40, 140}, // extreme brady- and tachycardia
	devices.MetricRespiration: {8, 25},   // NEWS2 scores 3
	MetricAccel:               {2.8},     // Bourke's upper fall threshold
}

type evidenceChart struct {
	Metric devices.Metric
	SVG    template.HTML
}

type evidenceView struct {
	Planned bool // the cause has evidence to chart
	Charts  []evidenceChart
	Facts   []detectors.Fact
	From    time.Time
	To      time.Time
	Failed  bool
}

// evidence draws the charts of an incident. A failed read is shown as such
// on the page rather than failing it: the dispatcher needs the rest.
func (w *web) evidence(ctx context.Context, lang string, inc dispatch.Incident, now time.Time) evidenceView {
	v := evidenceView{Facts: inc.Evidence.Facts}
	plan, ok := dispatch.EvidenceOf(inc.Cause)
	if !ok {
		return v
	}
	v.Planned = true
	anchor := inc.Episode
	if anchor.IsZero() {
		anchor = inc.OpenedAt
	}
	v.From, v.To = anchor.Add(-plan.Before), anchor.Add(plan.After)
	if v.To.After(now) {
		v.To = now
	}
	var series []EvidenceSeries
	if w.deps.Evidence != nil && inc.Hub != "" {
		var err error
		readings, accel, err := w.deps.Evidence.HubSamples(ctx, inc.Hub, v.From, v.To)
		if err != nil {
			w.log.Error().Err(err).Str("incident_id", inc.ID).Msg("evidence read failed")
			v.Failed = true
		} else {
			series = hubSeries(readings, accel, v.From, v.To)
		}
	}
	if len(series) == 0 {
		series = detectionSeries(inc.Evidence.Readings) // what the detector kept, at least
	}
	names := map[devices.SensorID]string{} // the series' sensors by room and kind
	for _, m := range plan.Metrics {
		var of []EvidenceSeries
		for _, s := range series {
			if s.Metric == m && len(s.Points) > 0 {
				of = append(of, s)
				if _, ok := names[s.Sensor]; !ok {
					names[s.Sensor] = w.sensorName(ctx, inc.Hub, s.Sensor, lang)
				}
			}
		}
		if len(of) == 0 {
			continue
		}
		v.Charts = append(v.Charts, evidenceChart{Metric: m, SVG: evidenceSVG(of, names, v.From, v.To, anchor, referenceLines[m], lang, m, w.cfg.Location)})
	}
	return v
}

// sensorName is a sensor as the dispatcher reads it ("침실 레이더 생체
// 센서"); a sensor the registry does not know is "센서 N" by its order,
// never its id.
func (w *web) sensorName(ctx context.Context, hub devices.HubID, id devices.SensorID, lang string) string {
	if sr, ok := w.deps.Residents.(SensorReader); ok && id != "" {
		if s, err := sr.GetSensor(ctx, hub, id); err == nil {
			return s.Place(lang)
		}
	}
	return translate(lang, "inc.sensor.unknown")
}

func detectionSeries(readings []devices.Reading) []EvidenceSeries {
	idx := map[[2]string]int{}
	var out []EvidenceSeries
	for _, r := range readings {
		k := [2]string{string(r.Sensor), string(r.Metric)}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, EvidenceSeries{Sensor: r.Sensor, Metric: r.Metric})
		}
		out[i].Points = append(out[i].Points, EvidencePoint{At: r.At, Value: r.Value})
	}
	for i := range out {
		slices.SortFunc(out[i].Points, func(a, b EvidencePoint) int { return a.At.Compare(b.At) })
	}
	return out
}

// hubSeries turns a hub's raw samples into series: one per sensor and
// metric, and the accelerometer as its magnitude in g within [from, to],
// each in time order.
func hubSeries(readings []devices.Reading, accel []devices.AccelChunk, from, to time.Time) []EvidenceSeries {
	out := detectionSeries(readings)
	idx := map[devices.SensorID]int{}
	for i := range accel {
		c := &accel[i]
		if c.RateHz <= 0 {
			continue
		}
		k, ok := idx[c.Sensor]
		if !ok {
			k = len(out)
			idx[c.Sensor] = k
			out = append(out, EvidenceSeries{Sensor: c.Sensor, Metric: MetricAccel})
		}
		n := min(len(c.X), len(c.Y), len(c.Z))
		for j := 0; j < n; j++ {
			t := c.SampleTime(j)
			if t.Before(from) || t.After(to) {
				continue
			}
			x, y, z := float64(c.X[j]), float64(c.Y[j]), float64(c.Z[j])
			out[k].Points = append(out[k].Points, EvidencePoint{At: t, Value: math.Sqrt(x*x + y*y + z*z)})
		}
	}
	for i := range out {
		slices.SortStableFunc(out[i].Points, func(a, b EvidencePoint) int { return a.At.Compare(b.At) })
	}
	return out
}

// decimate keeps the lowest and highest point of each of n time buckets, so
// that a 200 Hz impact peak survives being drawn 600 pixels wide.
func decimate(pts []EvidencePoint, from, to time.Time, n int) []EvidencePoint {
	if len(pts) <= 2*n || !to.After(from) {
		return pts
	}
	span := to.Sub(from)
	out := make([]EvidencePoint, 0, 2*n)
	for i := 0; i < len(pts); {
		b := int(int64(pts[i].At.Sub(from)) * int64(n) / int64(span))
		lo, hi := pts[i], pts[i]
		j := i + 1
		for ; j < len(pts) && int(int64(pts[j].At.Sub(from))*int64(n)/int64(span)) == b; j++ {
			if pts[j].Value < lo.Value {
				lo = pts[j]
			}
			if pts[j].Value > hi.Value {
				hi = pts[j]
			}
		}
		if lo.At.After(hi.At) {
			lo, hi = hi, lo
		}
		out = append(out, lo)
		if hi != lo {
			out = append(out, hi)
		}
		i = j
	}
	return out
}

var seriesColours = [...]string{"#1d5fa3", "#b3261e", "#1b7a3a", "#a05a00", "#5b2a8a"}

// evidenceSVG draws the series of one metric over [from, to] with the
// moment the condition began (anchor) marked and reference limits dashed.
func evidenceSVG(series []EvidenceSeries, names map[devices.SensorID]string, from, to, anchor time.Time, refs []float64, lang string, metric devices.Metric, loc *time.Location) template.HTML {
	const left, right, top, width, height = 48, 12, 14, 720, 200
	plotBottom := float64(height - 26)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
		}
	}
	for _, r := range refs {
		// A limit close to the data is drawn; a far one would flatten the curve.
		if r >= lo-(hi-lo+1)*1.5 && r <= hi+(hi-lo+1)*1.5 {
			lo, hi = math.Min(lo, r), math.Max(hi, r)
		}
	}
	if metric == MetricAccel {
		lo = 0
	}
	pad := (hi - lo) * 0.08
	if pad == 0 {
		pad = math.Max(1, math.Abs(hi)*0.1)
	}
	lo, hi = lo-pad, hi+pad
	if metric == MetricAccel || lo < 0 && minValue(series) >= 0 {
		lo = math.Max(lo, 0)
	}
	span := to.Sub(from)
	if span <= 0 {
		span = time.Second
	}
	x := func(t time.Time) float64 {
		return left + float64(t.Sub(from))/float64(span)*float64(width-left-right)
	}
	y := func(v float64) float64 { return top + (hi-v)/(hi-lo)*(plotBottom-top) }
	var b strings.Builder
	label := translateOr(lang, "metric."+string(metric), string(metric))
	fmt.Fprintf(&b, `<svg class="chart evidence" data-metric="%s" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		metric, width, height, template.HTMLEscapeString(label))
	for _, v := range []float64{lo, (lo + hi) / 2, hi} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/><text x="0" y="%.1f" class="axis">%s</text>`,
			left, width-right, y(v), y(v), y(v)+4, axisNumber(v))
	}
	for _, r := range refs {
		if r > lo && r < hi {
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="ref"/><text x="%d" y="%.1f" class="axis ref-label">%s</text>`,
				left, width-right, y(r), y(r), width-right-40, y(r)-3, axisNumber(r))
		}
	}
	// Time ticks: seconds from the start for short windows, clock times
	// otherwise.
	ticks := 6
	for i := 0; i <= ticks; i++ {
		t := from.Add(span * time.Duration(i) / time.Duration(ticks))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>`, x(t), height-8, tickLabel(t, anchor, span, lang, loc))
	}
	if !anchor.Before(from) && !anchor.After(to) {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" class="anchor"/><text x="%.1f" y="%.1f" class="axis anchor-label" text-anchor="end">%s ▸</text>`,
			x(anchor), x(anchor), top-4, plotBottom, x(anchor)-4, plotBottom-4, template.HTMLEscapeString(translate(lang, "inc.began")))
	}
	for i, s := range series {
		colour := seriesColours[i%len(seriesColours)]
		pts := decimate(s.Points, from, to, (width-left-right)/2)
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %s</title></circle>`,
				x(pts[0].At), y(pts[0].Value), colour, template.HTMLEscapeString(names[s.Sensor]), axisNumber(pts[0].Value))
			continue
		}
		var line []string
		for _, p := range pts {
			line = append(line, fmt.Sprintf("%.1f,%.1f", x(p.At), y(p.Value)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round"><title>%s</title></polyline>`,
			strings.Join(line, " "), colour, template.HTMLEscapeString(names[s.Sensor]))
		peak := pts[0]
		for _, p := range pts {
			if p.Value > peak.Value {
				peak = p
			}
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/><text x="%.1f" y="%.1f" class="axis peak">%s</text>`,
			x(peak.At), y(peak.Value), colour, x(peak.At)+6, y(peak.Value)+10, axisNumber(peak.Value))
	}
	if len(series) > 1 {
		for i, s := range series {
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" fill="%s">● %s</text>`, left+8+i*220, top+8, seriesColours[i%len(seriesColours)],
				template.HTMLEscapeString(names[s.Sensor]))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func minValue(series []EvidenceSeries) float64 {
	m := math.Inf(1)
	for _, s := range series {
		for _, p := range s.Points {
			m = math.Min(m, p.Value)
		}
	}
	return m
}

func axisNumber(v float64) string {
	if math.Abs(v) < 10 && v != math.Trunc(v) {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func tickLabel(t, anchor time.Time, span time.Duration, lang string, loc *time.Location) string {
	if span <= 5*time.Minute {
		s := int(math.Round(t.Sub(anchor).Seconds()))
		unit := "초"
		if lang == "en" {
			unit = "s"
		}
		if s > 0 {
			return fmt.Sprintf("+%d%s", s, unit)
		}
		return fmt.Sprintf("%d%s", s, unit)
	}
	return t.In(loc).Format("15:04")
}
