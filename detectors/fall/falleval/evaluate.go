package falleval

import (
	"encoding/json"
	"fmt"
	"github.com/dolbom/dolbom/detectors/fall"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"
)

// EvalChunk is the chunk length the evaluation feeds trials in: a wearable
// publishing once a second.
const EvalChunk = time.Second

// evalStart is the arbitrary time the evaluation's first sample is at.
var evalStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TrialResult is what the detector made of one trial.
type TrialResult struct {
	Path     string
	Activity string
	Subject  string
	IsFall   bool
	Duration time.Duration
	Falls    []fall.Fall // every fall and GotUp report while the trial was fed
	// Weak counts the weak reports (fall.Fall.Weak: a turn out of lying
	// with no impact the wearable trusts alone), kept out of Falls: they
	// alarm only with a bed zone, which the data sets lack.
	Weak int
}

// Emergency reports whether a fall was reported during the trial that the
// wearer did not get up from before it ended (the engine's cancel window,
// 30 s, outlasts every trial's remainder): what would reach 119.
func (r TrialResult) Emergency() bool {
	for i, f := range r.Falls {
		if f.GotUp {
			continue
		}
		if !slices.ContainsFunc(r.Falls[i+1:], func(g fall.Fall) bool { return g.GotUp && g.Impact.Equal(f.Impact) }) {
			return true
		}
	}
	return false
}

// Welfare reports whether the wearer was seen getting up after a fall
// during the trial: "fell and got up", a welfare detection.
func (r TrialResult) Welfare() bool {
	return slices.ContainsFunc(r.Falls, func(f fall.Fall) bool { return f.GotUp })
}

// Detected reports whether either an emergency or a welfare fall came of
// the trial.
func (r TrialResult) Detected() bool { return len(r.Falls) > 0 }

// EvaluateTrial feeds a trial through a fresh fall.Tracker in EvalChunk chunks.
func EvaluateTrial(tr *Trial, cfg *fall.Config) TrialResult {
	return evaluateTrial(tr, fall.NewTracker(cfg))
}

func evaluateTrial(tr *Trial, t *fall.Tracker) TrialResult {
	res := TrialResult{Path: tr.Path, Activity: tr.Activity, Subject: tr.Subject, IsFall: tr.IsFall, Duration: tr.Duration()}
	chunks := tr.Chunks(evalStart, EvalChunk, "sisfall")
	for i := range chunks {
		for _, f := range t.Feed(&chunks[i]) {
			if f.Weak {
				res.Weak++
				continue
			}
			res.Falls = append(res.Falls, f)
		}
	}
	return res
}

// ActivityStats counts one activity code's trials and detections.
type ActivityStats struct {
	Trials    int `json:"trials"`
	Detected  int `json:"detected"`  // emergency or welfare
	Emergency int `json:"emergency"` // a fall not got up from
	Welfare   int `json:"welfare"`   // fell and got up
}

// Add counts one trial of the activity by what came of it: a fall
// emergency, a welfare "fell and got up", both or neither. The offline
// evaluation and `dolbom-sim sisfall` (the whole gateway) count alike.
func (a *ActivityStats) Add(emergency, welfare bool) {
	a.Trials++
	if emergency || welfare {
		a.Detected++
	}
	if emergency {
		a.Emergency++
	}
	if welfare {
		a.Welfare++
	}
}

// Report summarises a set of trials. A fall trial counts as detected, and a
// daily-activity trial as a false alarm, when any fall was reported while it
// was fed.
type Report struct {
	Trials, Falls, ADLs int
	TruePositives       int
	FalsePositives      int // daily-activity trials with a fall reported
	FalseAlarms         int // falls reported in daily-activity trials
	// Emergencies and Welfares count fall trials by outcome; the
	// EmergencyFalsePositives and WelfareFalsePositives daily-activity trials
	// by the worst they caused (an ADL can cause both).
	Emergencies, Welfares                          int
	EmergencyFalsePositives, WelfareFalsePositives int
	EmergencySpecificity                           float64 // counting only emergencies as false alarms
	ADLDuration                                    time.Duration
	Sensitivity                                    float64
	Specificity                                    float64
	Accuracy                                       float64
	FalseAlarmsPerHour                             float64 // FalseAlarms over ADLDuration
	// LatencyP50 and LatencyP99 run from the impact peak to the decision, over
	// the first fall reported in each detected fall trial.
	LatencyP50, LatencyP99 time.Duration
	PerActivity            map[string]ActivityStats
}

// MarshalJSON writes the keys `dolbom-sim sisfall --json` promises.
func (r Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Trials             int                      `json:"trials"`
		Falls              int                      `json:"falls"`
		ADLs               int                      `json:"adls"`
		TruePositives      int                      `json:"true_positives"`
		FalsePositives     int                      `json:"false_positives"`
		FalseAlarms        int                      `json:"false_alarms"`
		Emergencies        int                      `json:"falls_emergency"`
		Welfares           int                      `json:"falls_welfare"`
		EmergencyFP        int                      `json:"adls_emergency"`
		WelfareFP          int                      `json:"adls_welfare"`
		EmergencySpec      float64                  `json:"specificity_emergency"`
		ADLHours           float64                  `json:"adl_hours"`
		Sensitivity        float64                  `json:"sensitivity"`
		Specificity        float64                  `json:"specificity"`
		Accuracy           float64                  `json:"accuracy"`
		FalseAlarmsPerHour float64                  `json:"false_alarms_per_hour"`
		LatencyP50         float64                  `json:"latency_ms_p50"`
		LatencyP99         float64                  `json:"latency_ms_p99"`
		PerActivity        map[string]ActivityStats `json:"per_activity"`
	}{
		r.Trials, r.Falls, r.ADLs, r.TruePositives, r.FalsePositives, r.FalseAlarms,
		r.Emergencies, r.Welfares, r.EmergencyFalsePositives, r.WelfareFalsePositives, r.EmergencySpecificity, r.ADLDuration.Hours(),
		r.Sensitivity, r.Specificity, r.Accuracy, r.FalseAlarmsPerHour,
		float64(r.LatencyP50) / float64(time.Millisecond), float64(r.LatencyP99) / float64(time.Millisecond),
		r.PerActivity,
	})
}

// Summarize builds the report of a set of trial results.
func Summarize(results []TrialResult) Report {
	r := Report{PerActivity: map[string]ActivityStats{}}
	var latencies []time.Duration
	for _, res := range results {
		r.Trials++
		a := r.PerActivity[res.Activity]
		emergency, welfare := res.Emergency(), res.Welfare()
		a.Add(emergency, welfare) // Detected() is emergency or welfare
		r.PerActivity[res.Activity] = a
		if res.IsFall {
			r.Falls++
			if emergency {
				r.Emergencies++
			}
			if welfare {
				r.Welfares++
			}
			if res.Detected() {
				r.TruePositives++
				latencies = append(latencies, res.Falls[0].Detected.Sub(res.Falls[0].Impact))
			}
			continue
		}
		r.ADLs++
		r.ADLDuration += res.Duration
		for _, f := range res.Falls {
			if !f.GotUp {
				r.FalseAlarms++
			}
		}
		if res.Detected() {
			r.FalsePositives++
		}
		if emergency {
			r.EmergencyFalsePositives++
		}
		if welfare {
			r.WelfareFalsePositives++
		}
	}
	r.Sensitivity = ratio(r.TruePositives, r.Falls)
	r.Specificity = ratio(r.ADLs-r.FalsePositives, r.ADLs)
	r.EmergencySpecificity = ratio(r.ADLs-r.EmergencyFalsePositives, r.ADLs)
	r.Accuracy = ratio(r.TruePositives+r.ADLs-r.FalsePositives, r.Trials)
	if h := r.ADLDuration.Hours(); h > 0 {
		r.FalseAlarmsPerHour = float64(r.FalseAlarms) / h
	}
	slices.Sort(latencies)
	r.LatencyP50, r.LatencyP99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	return r
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// EvaluateDir replays every SisFall trial under dir (the dataset's layout:
// subject folders of <CODE>_<SUBJECT>_R<NN>.txt files, any folder names)
// through the detector and reports. Files are read and judged one at a time
// per CPU, so memory stays small whatever the number of subjects.
func EvaluateDir(dir string, cfg *fall.Config) (Report, error) {
	if cfg == nil {
		cfg = fall.DefaultConfig()
	}
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	paths, err := ListTrials(dir)
	if err != nil {
		return Report{}, err
	}
	if len(paths) == 0 {
		return Report{}, fmt.Errorf("fall: no sisfall trials under %s", dir)
	}
	results := make([]TrialResult, len(paths))
	errs := make([]error, len(paths))
	forEach(len(paths), func(i int) {
		tr, err := ReadSisFallTrial(paths[i])
		if err != nil {
			errs[i] = err
			return
		}
		results[i] = EvaluateTrial(&tr, cfg)
	})
	for _, err := range errs {
		if err != nil {
			return Report{}, err
		}
	}
	return Summarize(results), nil
}

// LoadDir reads every trial under dir into memory (for tuning, which replays
// the same trials many times).
func LoadDir(dir string) ([]Trial, error) {
	paths, err := ListTrials(dir)
	if err != nil {
		return nil, err
	}
	trials := make([]Trial, len(paths))
	errs := make([]error, len(paths))
	forEach(len(paths), func(i int) { trials[i], errs[i] = ReadSisFallTrial(paths[i]) })
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return trials, nil
}

// EvaluateTrials judges trials already in memory.
func EvaluateTrials(trials []Trial, cfg *fall.Config) Report {
	results := make([]TrialResult, len(trials))
	forEach(len(trials), func(i int) { results[i] = EvaluateTrial(&trials[i], cfg) })
	return Summarize(results)
}

// forEach runs fn(0..n-1) on one worker per CPU.
func forEach(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Activities returns the report's activity codes in order.
func (r Report) Activities() []string {
	codes := make([]string, 0, len(r.PerActivity))
	for c := range r.PerActivity {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	return codes
}

// Summary is the report on one line.
func (r Report) Summary() string {
	return fmt.Sprintf("trials=%d falls=%d adls=%d sensitivity=%.4f specificity=%.4f (emergency only %.4f) accuracy=%.4f false_alarms_per_hour=%.2f falls emergency/welfare=%d/%d adls emergency/welfare=%d/%d latency_p50=%v latency_p99=%v",
		r.Trials, r.Falls, r.ADLs, r.Sensitivity, r.Specificity, r.EmergencySpecificity, r.Accuracy, r.FalseAlarmsPerHour,
		r.Emergencies, r.Welfares, r.EmergencyFalsePositives, r.WelfareFalsePositives, r.LatencyP50, r.LatencyP99)
}
