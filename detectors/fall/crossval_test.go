package fall

import (
	"fmt"
	"strings"
	"testing"
)

// cvFolds splits SA01-SA12 into four folds of three subjects each.
var cvFolds = [][]string{
	{"SA01", "SA02", "SA03"}, {"SA04", "SA05", "SA06"},
	{"SA07", "SA08", "SA09"}, {"SA10", "SA11", "SA12"},
}

// cvGrid is the small grid tuned on each fold's training subjects: the three
// thresholds the decision is most sensitive to; every other field keeps its
// default.
func cvGrid() []*Config {
	var grid []*Config
	for _, impact := range []float64{1.8, 2.0, 2.2, 2.5} {
		for _, horizontal := range []float64{0.3, 0.4, 0.5} {
			for _, lying := range []float64{40, 50} {
				cfg := DefaultConfig()
				cfg.ImpactG, cfg.HorizontalStdG, cfg.LyingTiltDeg = impact, horizontal, lying
				grid = append(grid, cfg)
			}
		}
	}
	return grid
}

// better ranks training results: the floors are on both sensitivity and
// specificity, so the worse of the two decides, then their sum.
func better(a, b Report) bool {
	ma, mb := min(a.Sensitivity, a.Specificity), min(b.Sensitivity, b.Specificity)
	if ma != mb {
		return ma > mb
	}
	return a.Sensitivity+a.Specificity > b.Sensitivity+b.Specificity
}

// TestCrossValidation tunes on three folds and tests on the fourth, for each
// fold, and logs the table docs/detection.md reports:
//
//	go test ./detectors/fall -run TestCrossValidation -v -count=1
func TestCrossValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-validation replays the data set 100 times")
	}
	trials, err := LoadDir(sisFallDir(t))
	if err != nil {
		t.Fatal(err)
	}
	grid := cvGrid()
	var pooled []TrialResult
	var table strings.Builder
	fmt.Fprintln(&table, "| fold | test subjects | chosen ImpactG / HorizontalStdG / LyingTiltDeg | train sens / spec | test sens | test spec | test acc | FA/h | latency p50 / p99 |")
	fmt.Fprintln(&table, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for i, fold := range cvFolds {
		var train, test []Trial
		for _, tr := range trials {
			if contains(fold, tr.Subject) {
				test = append(test, tr)
			} else {
				train = append(train, tr)
			}
		}
		var best *Config
		var bestReport Report
		for _, cfg := range grid {
			r := EvaluateTrials(train, cfg)
			if best == nil || better(r, bestReport) {
				best, bestReport = cfg, r
			}
		}
		results := make([]TrialResult, len(test))
		forEach(len(test), func(j int) { results[j] = EvaluateTrial(&test[j], best) })
		pooled = append(pooled, results...)
		r := Summarize(results)
		fmt.Fprintf(&table, "| %d | %s | %.1f g / %.2f g / %.0f° | %.3f / %.3f | %.3f | %.3f | %.3f | %.2f | %.2f s / %.2f s |\n",
			i+1, strings.Join(fold, " "), best.ImpactG, best.HorizontalStdG, best.LyingTiltDeg,
			bestReport.Sensitivity, bestReport.Specificity, r.Sensitivity, r.Specificity, r.Accuracy,
			r.FalseAlarmsPerHour, r.LatencyP50.Seconds(), r.LatencyP99.Seconds())
		for _, res := range results {
			if res.IsFall != res.Detected() {
				t.Logf("fold %d wrong: %s fall=%v detected=%v", i+1, res.Path[strings.LastIndex(res.Path, "/")+1:], res.IsFall, res.Detected())
			}
		}
	}
	r := Summarize(pooled)
	fmt.Fprintf(&table, "| pooled | SA01-SA12 | | | %.3f | %.3f | %.3f | %.2f | %.2f s / %.2f s |\n",
		r.Sensitivity, r.Specificity, r.Accuracy, r.FalseAlarmsPerHour, r.LatencyP50.Seconds(), r.LatencyP99.Seconds())
	fmt.Fprintln(&table, "\nper activity (held-out, pooled): code detected/trials")
	for _, code := range r.Activities() {
		a := r.PerActivity[code]
		fmt.Fprintf(&table, "%s %d/%d  ", code, a.Detected, a.Trials)
	}
	var all *Config
	var allReport Report
	for _, cfg := range grid {
		if r := EvaluateTrials(trials, cfg); all == nil || better(r, allReport) {
			all, allReport = cfg, r
		}
	}
	fmt.Fprintf(&table, "\n\ngrid choice on all 12 subjects (DefaultConfig should match): ImpactG %.1f g, HorizontalStdG %.2f g, LyingTiltDeg %.0f°: %s",
		all.ImpactG, all.HorizontalStdG, all.LyingTiltDeg, allReport.Summary())
	t.Logf("cross-validation, 4 folds by subject:\n%s", table.String())
	// A regression guard, below the floors on purpose: the floors themselves
	// are judged on subjects not provided, and docs/detection.md says where
	// this split stands against them.
	if r.Sensitivity < 0.95 || r.Specificity < 0.95 {
		t.Errorf("pooled held-out sensitivity %.3f specificity %.3f, want both >= 0.95", r.Sensitivity, r.Specificity)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
