package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeTrial writes a SisFall-format trial (200 Hz, 9 integer columns, the
// first three the ADXL345 at 256 counts per g) made of segments of constant
// acceleration.
func writeTrial(t *testing.T, dir, name string, segs ...[4]float64) {
	t.Helper()
	var b strings.Builder
	for _, s := range segs { // seconds, x, y, z in g
		for range int(s[0] * 200) {
			fmt.Fprintf(&b, "%d,%d,%d,0,0,0,0,0,0;\n", int(s[1]*256), int(s[2]*256), int(s[3]*256))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The replay runs on any folder in SisFall's layout, without the dataset:
// a synthetic fall (upright, impact, lying still) is detected and a
// person standing still is not.
func TestSisFallReplaySynthetic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "SX01")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTrial(t, dir, "F01_SX01_R01.txt", [4]float64{4, 0, -1, 0}, [4]float64{0.3, 0.5, -0.2, 0.3}, [4]float64{0.1, 2.5, -2.0, 1.5}, [4]float64{8, 0, 0, -1})
	writeTrial(t, dir, "D01_SX01_R01.txt", [4]float64{12, 0, -1, 0})
	var out, errs bytes.Buffer
	if err := cmdSisFall(context.Background(), []string{"--data", filepath.Dir(dir), "--json"}, &out, &errs); err != nil {
		t.Fatalf("sisfall: %v\n%s", err, errs.String())
	}
	var rep SisFallReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if rep.Trials != 2 || rep.Falls != 1 || rep.ADLs != 1 || rep.Sensitivity != 1 || rep.Specificity != 1 {
		t.Fatalf("report %+v: want the fall detected and the standing not", rep)
	}
	if rep.LatencyMSP50 <= 0 || rep.LatencyMSP50 > 10000 {
		t.Errorf("latency p50 %v ms from the impact peak: implausible", rep.LatencyMSP50)
	}
}

// A fall the wearer gets up from is a welfare detection, not an emergency,
// and still counts as detected; per_activity splits the two. The same
// trials sent at 20 Hz and clipped to ±2 g (--rate, --clip) are still
// classified the same way.
func TestSisFallReplayEmergencyAndWelfare(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "SX01")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fall := [][4]float64{{4, 0, -1, 0}, {0.3, 0.5, -0.2, 0.3}, {0.1, 2.5, -2.0, 1.5}}
	writeTrial(t, dir, "F01_SX01_R01.txt", append(fall, [4]float64{8, 0, 0, -1})...)
	writeTrial(t, dir, "F02_SX01_R01.txt", append(fall, [4]float64{4, 0, 0, -1}, [4]float64{1, 0, -0.7, -0.7}, [4]float64{6, 0, -1, 0})...)
	writeTrial(t, dir, "D01_SX01_R01.txt", [4]float64{12, 0, -1, 0})
	for _, args := range [][]string{nil, {"--rate", "20", "--clip", "2"}} {
		var out, errs bytes.Buffer
		if err := cmdSisFall(context.Background(), append([]string{"--data", filepath.Dir(dir), "--json"}, args...), &out, &errs); err != nil {
			t.Fatalf("sisfall %v: %v\n%s", args, err, errs.String())
		}
		var rep SisFallReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, out.String())
		}
		f1, f2 := rep.PerActivity["F01"], rep.PerActivity["F02"]
		if f1.Trials == 0 || f2.Trials == 0 || f1.Emergency != 1 || f1.Welfare != 0 || f2.Emergency != 0 || f2.Welfare != 1 {
			t.Fatalf("%v: per_activity F01 %+v F02 %+v: want F01 an emergency, F02 fell and got up", args, f1, f2)
		}
		if rep.Sensitivity != 1 || rep.FallsEmergency != 1 || rep.FallsWelfare != 1 || rep.Specificity != 1 {
			t.Errorf("%v: report %+v: want both falls detected, one each way", args, rep)
		}
		if len(args) > 0 && (rep.RateHz != 20 || rep.ClipG != 2) {
			t.Errorf("%v: report says rate %d clip %g", args, rep.RateHz, rep.ClipG)
		}
	}
}

// On the real SisFall data (one subject, from ../shared), the replay through
// the gateway classifies trials as the detector's own evaluation does.
func TestSisFallReplayRealData(t *testing.T) {
	archive := "../../../shared/data/sisfall/sisfall-SA01-SA12.tar.xz"
	if _, err := os.Stat(archive); err != nil {
		t.Skipf("SisFall data not present (%s): the synthetic replay test covers the path", archive)
	}
	if testing.Short() {
		t.Skip("replaying a subject takes a few seconds; skipped with -short")
	}
	dir := t.TempDir()
	cmd := exec.Command("tar", "-xJf", archive, "-C", dir, "--wildcards", "*SA01/*")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot unpack the SisFall archive here: %v: %s", err, out)
	}
	var out, errs bytes.Buffer
	if err := cmdSisFall(context.Background(), []string{"--data", dir, "--json"}, &out, &errs); err != nil {
		t.Fatalf("sisfall: %v\n%s", err, errs.String())
	}
	var rep SisFallReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("SA01 through the gateway: %d trials, sensitivity %.3f, specificity %.3f, latency p50 %.0f ms",
		rep.Trials, rep.Sensitivity, rep.Specificity, rep.LatencyMSP50)
	if rep.Trials < 100 || rep.Sensitivity < 0.9 || rep.Specificity < 0.9 {
		t.Fatalf("SA01 replay: %+v", rep)
	}
}
