package web

import (
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
)

func TestHeatmapAndSleep(t *testing.T) {
	loc := time.FixedZone("KST", 9*3600)
	now := time.Date(2026, 5, 4, 12, 30, 0, 0, loc)
	hour := func(daysAgo, h int) time.Time {
		return time.Date(2026, 5, 4-daysAgo, h, 0, 0, 0, loc).UTC()
	}
	pts := []console.HourlyPoint{
		{Hour: hour(1, 2), Count: 1, Sum: 1},   // a night trip: not waking
		{Hour: hour(1, 6), Count: 1, Sum: 5},   // woke at 6
		{Hour: hour(1, 21), Count: 1, Sum: 3},  // last activity at 21
		{Hour: hour(1, 22), Count: 1, Sum: 0},  // data, no motion
		{Hour: hour(40, 9), Count: 1, Sum: 99}, // outside the 30 days
	}
	h := buildHeatmap(pts, now, loc, 30)
	if len(h.Days) != 30 || !h.Days[29].Equal(time.Date(2026, 5, 4, 0, 0, 0, 0, loc)) {
		t.Fatalf("days: %d, last %v", len(h.Days), h.Days[len(h.Days)-1])
	}
	if h.Motion[28][6] != 5 || !h.Has[28][22] || h.Has[28][23] || h.Max != 5 {
		t.Errorf("heatmap cells wrong: %v %v", h.Motion[28], h.Has[28])
	}
	s := sleepTimes(h)[28]
	if s.Wake != 6 || s.Bed != 21 {
		t.Errorf("sleep = %+v, want wake 6, bed 21", s)
	}
	if got := h.colour(0, false); got != "#d0d3d6" {
		t.Errorf("no-data colour %s", got)
	}
}

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/today", "/today"},
		{"/residents/res-1?lang=en", "/residents/res-1?lang=en"},
		{"/queue#p1", "/queue#p1"},
		{"", ""},
		{"//evil.example", ""},
		{"https://evil.example", ""},
		{`/\evil`, ""},
		{"/\t/evil.example", ""}, // browsers drop the tab: //evil.example
		{"/\n/evil.example", ""},
		{"/\r/evil.example", ""},
		{"/\x00/evil.example", ""},
		{"/\x7f/evil.example", ""},
		{"/%09/evil.example", ""},
		{"/%2F/evil.example", ""},
		{"/%5Cevil.example", ""},
		{"/a//b", ""},
		{"/today/..//evil.example", ""},
		{"/%zz", ""},
		{"today", ""},
		{" /today", ""},
		{"javascript:alert(1)", ""},
		{"http:/evil.example", ""},
		{"/\u2028/evil.example", ""},
		{"/" + strings.Repeat("a", 2048), ""},
	} {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%.60q) = %.60q, want %q", tc.in, got, tc.want)
		}
	}
}
