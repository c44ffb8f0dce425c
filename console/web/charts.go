package web

// Charts are drawn on the server as SVG: no script, no external library to
// vendor and keep up to date, nothing to fetch (the consoles must work
// offline), the CSP can forbid inline scripts, and the same markup prints
// and shows in any browser. The charts here are small and fixed (a 30x24
// grid, two 30-point trends), which is where SVG by hand is simplest.

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/dolbom/dolbom/console"
)

// heatmap is the activity of a resident by day (rows, oldest first) and
// hour of day (columns) in local time.
type heatmap struct {
	Days   []time.Time
	Motion [][24]float64
	Has    [][24]bool
	Max    float64 // the value drawn darkest (95th percentile of hours with motion)
	Any    bool
}

var heatColours = [...]string{"#f4f6f8", "#cfe3f5", "#93c1e8", "#4a92d0", "#1d5fa3", "#0b3a6e"}

func buildHeatmap(points []console.HourlyPoint, now time.Time, loc *time.Location, days int) heatmap {
	today := startOfDay(now.In(loc))
	first := today.AddDate(0, 0, -(days - 1))
	h := heatmap{Days: make([]time.Time, days), Motion: make([][24]float64, days), Has: make([][24]bool, days)}
	for i := range h.Days {
		h.Days[i] = first.AddDate(0, 0, i)
	}
	var nonZero []float64
	for _, p := range points {
		t := p.Hour.In(loc)
		d := dayIndex(first, t)
		if d < 0 || d >= days {
			continue
		}
		h.Motion[d][t.Hour()] += p.Sum
		h.Has[d][t.Hour()] = true
		h.Any = true
	}
	for d := range h.Motion {
		for hr := range 24 {
			if h.Motion[d][hr] > 0 {
				nonZero = append(nonZero, h.Motion[d][hr])
			}
		}
	}
	if len(nonZero) > 0 {
		sort.Float64s(nonZero)
		h.Max = nonZero[int(math.Ceil(0.95*float64(len(nonZero))))-1]
	}
	return h
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// dayIndex counts calendar days from first to t (both in one location),
// right across daylight-saving changes.
func dayIndex(first, t time.Time) int {
	y, m, d := t.Date()
	fy, fm, fd := first.Date()
	return int(time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Sub(time.Date(fy, fm, fd, 12, 0, 0, 0, time.UTC)).Hours() / 24)
}

func (h heatmap) colour(v float64, has bool) string {
	if !has {
		return "#d0d3d6"
	}
	if v <= 0 || h.Max <= 0 {
		return heatColours[0]
	}
	step := 1 + int(math.Min(v/h.Max, 1)*float64(len(heatColours)-2)+0.5)
	return heatColours[min(max(step, 1), len(heatColours)-1)]
}

// svg draws the grid: one row per day, one column per hour.
func (h heatmap) svg(lang string) template.HTML {
	const left, top, cw, ch, gap = 64, 22, 26, 15, 2
	width := left + 24*cw
	height := top + len(h.Days)*ch + 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart heatmap" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		width, height, template.HTMLEscapeString(translate(lang, "res.heatmap")))
	for hr := 0; hr < 24; hr += 3 {
		label := fmt.Sprintf("%d시", hr)
		if lang == "en" {
			label = fmt.Sprintf("%02d:00", hr)
		}
		fmt.Fprintf(&b, `<text x="%d" y="14" class="axis">%s</text>`, left+hr*cw, label)
	}
	for d, day := range h.Days {
		y := top + d*ch
		fmt.Fprintf(&b, `<text x="0" y="%d" class="axis">%s</text>`, y+ch-4, shortDate(day, lang))
		for hr := range 24 {
			v, has := h.Motion[d][hr], h.Has[d][hr]
			title := fmt.Sprintf("%s %02d:00 · %s", shortDate(day, lang), hr, translate(lang, "res.nodata"))
			if has {
				title = fmt.Sprintf("%s %02d:00 · %.0f", shortDate(day, lang), hr, v)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="2" fill="%s"><title>%s</title></rect>`,
				left+hr*cw, y, cw-gap, ch-gap, h.colour(v, has), template.HTMLEscapeString(title))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func shortDate(t time.Time, lang string) string {
	wd := "일월화수목금토"
	if lang == "en" {
		return t.Format("Mon 1/2")
	}
	return fmt.Sprintf("%d/%d(%s)", t.Month(), t.Day(), string([]rune(wd)[t.Weekday()]))
}

// dayStat is one day of a vital sign: the mean of its hourly means and the
// lowest and highest reading.
type dayStat struct {
	Day            time.Time
	Mean, Min, Max float64
	OK             bool
}

func dailyStats(points []console.HourlyPoint, now time.Time, loc *time.Location, days int) []dayStat {
	first := startOfDay(now.In(loc)).AddDate(0, 0, -(days - 1))
	out := make([]dayStat, days)
	sums := make([]float64, days)
	counts := make([]int64, days)
	for i := range out {
		out[i].Day = first.AddDate(0, 0, i)
	}
	for _, p := range points {
		d := dayIndex(first, p.Hour.In(loc))
		if d < 0 || d >= days || p.Count == 0 {
			continue
		}
		s := &out[d]
		if !s.OK || p.Min < s.Min {
			s.Min = p.Min
		}
		if !s.OK || p.Max > s.Max {
			s.Max = p.Max
		}
		s.OK = true
		sums[d] += p.Sum
		counts[d] += p.Count
	}
	for i := range out {
		if counts[i] > 0 {
			out[i].Mean = sums[i] / float64(counts[i])
		}
	}
	return out
}

// trendSVG draws daily means as a line over a band from min to max.
func trendSVG(stats []dayStat, lang, label string) template.HTML {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range stats {
		if s.OK {
			lo, hi = math.Min(lo, s.Min), math.Max(hi, s.Max)
		}
	}
	if math.IsInf(lo, 1) {
		return template.HTML(`<p class="muted">` + template.HTMLEscapeString(translate(lang, "res.nodata")) + `</p>`)
	}
	lo, hi = math.Floor(lo/10)*10, math.Ceil(hi/10)*10
	if hi <= lo {
		hi = lo + 10
	}
	const left, top, width, height = 40, 8, 600, 150
	n := len(stats)
	x := func(i int) float64 { return left + float64(i)*(width-left-8)/float64(max(n-1, 1)) }
	y := func(v float64) float64 { return top + (hi-v)/(hi-lo)*(height-top-22) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart trend" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		width, height, template.HTMLEscapeString(label))
	for _, v := range []float64{lo, (lo + hi) / 2, hi} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/><text x="0" y="%.1f" class="axis">%.0f</text>`,
			left, width-8, y(v), y(v), y(v)+4, v)
	}
	for i := 0; i < n; i += 7 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis">%s</text>`, x(i)-12, height-4, shortDate(stats[i].Day, lang))
	}
	// One band and one line per run of days with data: a gap stays a gap.
	for start := 0; start < n; {
		if !stats[start].OK {
			start++
			continue
		}
		end := start
		for end < n && stats[end].OK {
			end++
		}
		var band, line []string
		for i := start; i < end; i++ {
			band = append(band, fmt.Sprintf("%.1f,%.1f", x(i), y(stats[i].Max)))
			line = append(line, fmt.Sprintf("%.1f,%.1f", x(i), y(stats[i].Mean)))
		}
		for i := end - 1; i >= start; i-- {
			band = append(band, fmt.Sprintf("%.1f,%.1f", x(i), y(stats[i].Min)))
		}
		fmt.Fprintf(&b, `<polygon points="%s" class="band"/>`, strings.Join(band, " "))
		if end-start == 1 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" class="dot"/>`, x(start), y(stats[start].Mean))
		} else {
			fmt.Fprintf(&b, `<polyline points="%s" class="line"/>`, strings.Join(line, " "))
		}
		for i := start; i < end; i++ {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="6" class="hit"><title>%s · %.0f (%.0f–%.0f)</title></circle>`,
				x(i), y(stats[i].Mean), shortDate(stats[i].Day, lang), stats[i].Mean, stats[i].Min, stats[i].Max)
		}
		start = end
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// sleepDay is the first and last hour with motion of one day, in local
// time. Waking is looked for from 04:00, so that a night-time trip to the
// bathroom is not taken for getting up.
type sleepDay struct {
	Day         time.Time
	Wake, Bed   int // hour of day; -1 when unknown
	HasActivity bool
}

const wakeFromHour = 4

func sleepTimes(h heatmap) []sleepDay {
	out := make([]sleepDay, len(h.Days))
	for d := range h.Days {
		s := sleepDay{Day: h.Days[d], Wake: -1, Bed: -1}
		for hr := wakeFromHour; hr < 24; hr++ {
			if h.Motion[d][hr] > 0 {
				if s.Wake < 0 {
					s.Wake = hr
				}
				s.Bed = hr
				s.HasActivity = true
			}
		}
		out[d] = s
	}
	return out
}

// medianHour is the median of the known hours, or -1.
func medianHour(days []sleepDay, wake bool) int {
	var hs []int
	for _, d := range days {
		v := d.Bed
		if wake {
			v = d.Wake
		}
		if v >= 0 {
			hs = append(hs, v)
		}
	}
	if len(hs) == 0 {
		return -1
	}
	sort.Ints(hs)
	return hs[len(hs)/2]
}
