package falleval

import (
	"fmt"
	"github.com/dolbom/dolbom/detectors/fall"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cvFolds splits SA01-SA12 into four folds of three subjects each.
var cvFolds = [][]string{
	{"SA01", "SA02", "SA03"}, {"SA04", "SA05", "SA06"},
	{"SA07", "SA08", "SA09"}, {"SA10", "SA11", "SA12"},
}

// fallAllDFolds holds one FallAllD subject out at a time (seven subjects).
var fallAllDFolds = [][]string{{"FA01"}, {"FA02"}, {"FA03"}, {"FA04"}, {"FA05"}, {"FA07"}, {"FA08"}}

// cvGrid is the small grid tuned on each fold's training subjects: the
// thresholds the decision is most sensitive to; every other field keeps its
// default.
func cvGrid() []*fall.Config {
	var grid []*fall.Config
	for _, impact := range []float64{1.5, 1.7, 2.0} {
		for _, bed := range []float64{2.0, 2.5, 3.0} {
			for _, horizontal := range []float64{0.3, 0.4} {
				for _, lying := range []float64{40, 50} {
					cfg := fall.DefaultConfig()
					cfg.ImpactG, cfg.BedImpactG, cfg.HorizontalStdG, cfg.LyingTiltDeg = impact, bed, horizontal, lying
					grid = append(grid, cfg)
				}
			}
		}
	}
	return grid
}

// cvStage2 varies, around the configuration chosen from cvGrid, the rules
// added after it (issue 17: controlled descents; the impact's speed for falls
// from lying), each with "off" among the choices, so the training folds
// decide whether they earn their place.
func cvStage2(base *fall.Config) []*fall.Config {
	var grid []*fall.Config
	for _, controlled := range []float64{0, 0.7, 0.75} {
		for _, bedSpeed := range []float64{0, 1.2, 1.5} {
			cfg := *base
			cfg.ControlledMinG, cfg.BedImpactMS = controlled, bedSpeed
			grid = append(grid, &cfg)
		}
	}
	return grid
}

// cvStage3 varies, around the choice of cvStage2, the rule added after it
// (issue 17: an episode that ends where the wearer sat still just before is
// not a fall), "off" among the choices.
func cvStage3(base *fall.Config) []*fall.Config {
	var grid []*fall.Config
	for _, back := range []float64{0, 20, 30} {
		cfg := *base
		cfg.BackWhereBeganDeg = back
		grid = append(grid, &cfg)
	}
	return grid
}

// tune picks the best configuration on the training trials: cvGrid first,
// then cvStage2 around its choice, then cvStage3 around that.
func tune(train []Trial) (*fall.Config, Report) {
	var best *fall.Config
	var bestReport Report
	for _, cfg := range cvGrid() {
		if r := EvaluateTrials(train, cfg); best == nil || better(r, bestReport) {
			best, bestReport = cfg, r
		}
	}
	for _, cfg := range cvStage2(best) {
		if r := EvaluateTrials(train, cfg); better(r, bestReport) {
			best, bestReport = cfg, r
		}
	}
	for _, cfg := range cvStage3(best) {
		if r := EvaluateTrials(train, cfg); better(r, bestReport) {
			best, bestReport = cfg, r
		}
	}
	return best, bestReport
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

// sensorVariant is a hub's sensor the held-out subjects are replayed as.
type sensorVariant struct {
	rateHz int
	clipG  float64
}

func (v sensorVariant) String() string {
	if v.clipG > 0 {
		return fmt.Sprintf("%d Hz, clipped ±%g g", v.rateHz, v.clipG)
	}
	return fmt.Sprintf("%d Hz", v.rateHz)
}

var sensorVariants = []sensorVariant{{200, 0}, {100, 0}, {50, 0}, {20, 0}, {200, 2}, {20, 2}}

// resampleAll returns the trials as variant v's sensor would record them.
func resampleAll(t testing.TB, trials []Trial, v sensorVariant) []Trial {
	out := make([]Trial, len(trials))
	for i := range trials {
		r, err := trials[i].Resampled(v.rateHz, v.clipG)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r
	}
	return out
}

// crossValidate tunes on the training folds (at the data's own rate) and
// reports the held-out folds at every sensor variant; it returns the pooled
// held-out report at the native rate.
func crossValidate(t *testing.T, name string, trials []Trial, folds [][]string, kinds map[string]string) Report {
	pooled := map[sensorVariant][]TrialResult{}
	var table strings.Builder
	fmt.Fprintf(&table, "%s, %d folds by subject\n", name, len(folds))
	fmt.Fprintln(&table, "| fold | test subjects | chosen ImpactG / BedImpactG / HorizontalStdG / LyingTiltDeg / Controlled MinG, ImpactMS, PeakG / BedImpactMS / BackWhereBeganDeg | train sens / spec | test sens | test spec (emergency only) | falls emergency / welfare | FA/h | latency p50 / p99 |")
	fmt.Fprintln(&table, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for i, fold := range folds {
		var train, test []Trial
		for _, tr := range trials {
			if slices.Contains(fold, tr.Subject) {
				test = append(test, tr)
			} else {
				train = append(train, tr)
			}
		}
		best, bestReport := tune(train)
		for _, v := range sensorVariants {
			vt := resampleAll(t, test, v)
			results := make([]TrialResult, len(vt))
			forEach(len(vt), func(j int) { results[j] = EvaluateTrial(&vt[j], best) })
			pooled[v] = append(pooled[v], results...)
			if v != sensorVariants[0] {
				continue
			}
			r := Summarize(results)
			sens := "no falls"
			if r.Falls > 0 {
				sens = fmt.Sprintf("%.3f", r.Sensitivity)
			}
			fmt.Fprintf(&table, "| %d | %s | %.1f g / %.1f g / %.2f g / %.0f° / %.2f g, %.1f m/s, %.1f g / %.1f m/s / %.0f° | %.3f / %.3f | %s | %.3f (%.3f) | %d / %d | %.2f | %.2f s / %.2f s |\n",
				i+1, strings.Join(fold, " "), best.ImpactG, best.BedImpactG, best.HorizontalStdG, best.LyingTiltDeg, best.ControlledMinG, best.ControlledImpactMS, best.ControlledPeakG, best.BedImpactMS, best.BackWhereBeganDeg,
				bestReport.Sensitivity, bestReport.Specificity, sens, r.Specificity, r.EmergencySpecificity,
				r.Emergencies, r.Welfares, r.FalseAlarmsPerHour, r.LatencyP50.Seconds(), r.LatencyP99.Seconds())
			for _, res := range results {
				if res.IsFall != res.Detected() {
					t.Logf("%s fold %d wrong: %s fall=%v emergency=%v welfare=%v", name, i+1, res.Path[strings.LastIndex(res.Path, "/")+1:], res.IsFall, res.Emergency(), res.Welfare())
				}
			}
		}
	}
	fmt.Fprintln(&table, "\nheld-out, pooled, by the hub's sensor (thresholds chosen at the data's own rate):")
	fmt.Fprintln(&table, "| sensor | sensitivity | falls emergency / welfare | specificity (emergency only) | FA/h | latency p50 / p99 |")
	fmt.Fprintln(&table, "| --- | --- | --- | --- | --- | --- |")
	for _, v := range sensorVariants {
		r := Summarize(pooled[v])
		fmt.Fprintf(&table, "| %s | %.3f | %d / %d | %.3f (%.3f) | %.2f | %.2f s / %.2f s |\n", v, r.Sensitivity, r.Emergencies, r.Welfares,
			r.Specificity, r.EmergencySpecificity, r.FalseAlarmsPerHour, r.LatencyP50.Seconds(), r.LatencyP99.Seconds())
	}
	if len(kinds) > 0 {
		fmt.Fprintln(&table, "\nheld-out, pooled, by kind of fall (reported: emergency or welfare):")
		fmt.Fprintln(&table, "| sensor | falls, no recovery, not from bed | from bed (no recovery) | with recovery: reported (welfare / emergency) |")
		fmt.Fprintln(&table, "| --- | --- | --- | --- |")
		for _, v := range sensorVariants {
			n, hit, welfare, emergency := byKind(pooled[v], kinds)
			fmt.Fprintf(&table, "| %s | %d/%d = %.3f | %d/%d = %.3f | %d/%d = %.3f (%d / %d) |\n", v,
				hit[0], n[0], ratio(hit[0], n[0]), hit[1], n[1], ratio(hit[1], n[1]), hit[2], n[2], ratio(hit[2], n[2]), welfare, emergency)
		}
	}
	fmt.Fprintln(&table, "\nheld-out, pooled, weak reports (a turn out of lying, still after, no impact trusted alone: raised only when the bed zone reads empty):")
	fmt.Fprintln(&table, "| sensor | falls from bed not otherwise reported, with a weak report | daily activities with a weak report (and not otherwise reported) |")
	fmt.Fprintln(&table, "| --- | --- | --- |")
	for _, v := range sensorVariants {
		bedMissed, bedWeak, adlWeak, adlWeakOnly := 0, 0, 0, 0
		for _, res := range pooled[v] {
			switch {
			case res.IsFall && kinds[res.Activity] == "bed" && !res.Detected():
				bedMissed++
				if res.Weak > 0 {
					bedWeak++
				}
			case !res.IsFall && res.Weak > 0:
				adlWeak++
				if !res.Detected() {
					adlWeakOnly++
				}
			}
		}
		fmt.Fprintf(&table, "| %s | %d of %d | %d (%d) |\n", v, bedWeak, bedMissed, adlWeak, adlWeakOnly)
	}
	r := Summarize(pooled[sensorVariants[0]])
	fmt.Fprintln(&table, "\nper activity (held-out, pooled, own rate): code emergency/welfare/trials")
	for _, code := range r.Activities() {
		a := r.PerActivity[code]
		fmt.Fprintf(&table, "%s %d/%d/%d  ", code, a.Emergency, a.Welfare, a.Trials)
	}
	all, allReport := tune(trials)
	fmt.Fprintf(&table, "\n\ngrid choice on all subjects: ImpactG %.1f g, BedImpactG %.1f g, HorizontalStdG %.2f g, LyingTiltDeg %.0f°, Controlled %.2f g / %.1f m/s / %.1f g, BedImpactMS %.1f m/s, BackWhereBeganDeg %.0f°: %s",
		all.ImpactG, all.BedImpactG, all.HorizontalStdG, all.LyingTiltDeg, all.ControlledMinG, all.ControlledImpactMS, all.ControlledPeakG, all.BedImpactMS, all.BackWhereBeganDeg, allReport.Summary())
	t.Logf("cross-validation:\n%s", table.String())
	return r
}

// TestCrossValidation tunes on the training folds and tests on the held-out
// one, for each fold of SisFall SA01-SA12 and of FallAllD FA01-FA08, and
// logs the tables docs/detection.md reports:
//
//	go test ./detectors/fall -run TestCrossValidation -v -count=1
func TestCrossValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-validation replays the data sets hundreds of times")
	}
	for _, set := range []struct {
		name  string
		dir   func(testing.TB) string
		folds [][]string
	}{{"SisFall", sisFallDir, cvFolds}, {"FallAllD", fallAllDDir, fallAllDFolds}} {
		t.Run(set.name, func(t *testing.T) {
			trials, err := LoadDir(set.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			r := crossValidate(t, set.name, trials, set.folds, fallKinds(t, set.dir(t)))
			// A regression guard, below the targets on purpose: the targets
			// are judged on subjects not provided, and docs/detection.md says
			// where these splits stand against them.
			if r.Sensitivity < 0.9 || r.Specificity < 0.95 {
				t.Errorf("pooled held-out sensitivity %.3f specificity %.3f, want >= 0.9 and >= 0.95", r.Sensitivity, r.Specificity)
			}
		})
	}
}

// byKind counts fall trials by kind (0 no recovery and not from bed, 1 from
// bed, 2 with recovery; see fallKinds) and those reported, and the falls with
// recovery reported as welfare and as emergencies.
func byKind(results []TrialResult, kinds map[string]string) (n, hit [3]int, welfare, emergency int) {
	for _, res := range results {
		if !res.IsFall {
			continue
		}
		k := map[string]int{"": 0, "bed": 1, "recovery": 2}[kinds[res.Activity]]
		n[k]++
		if res.Detected() {
			hit[k]++
		}
		if k == 2 && res.Welfare() {
			welfare++
		} else if k == 2 && res.Emergency() {
			emergency++
		}
	}
	return n, hit, welfare, emergency
}

// fallKinds reads a data set's activities.tsv (FallAllD's: code, label,
// name), when it has one, and sorts its falls into "recovery" (the person
// gets up: "rec." in the name), "bed" (from bed, no recovery) or "" (the
// rest).
func fallKinds(t testing.TB, dir string) map[string]string {
	b, err := os.ReadFile(filepath.Join(dir, "activities.tsv"))
	if err != nil {
		return nil
	}
	kinds := map[string]string{}
	for line := range strings.Lines(string(b)) {
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) < 3 || f[1] != "fall" {
			continue
		}
		switch {
		case strings.Contains(f[2], "rec."):
			kinds[f[0]] = "recovery"
		case strings.Contains(f[2], "bed"):
			kinds[f[0]] = "bed"
		}
	}
	return kinds
}
