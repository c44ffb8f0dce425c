package falleval

import (
	"fmt"
	"github.com/dolbom/dolbom/detectors/fall"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// sisFallArchive is where the development split lives, relative to this
// package; SISFALL_DIR may name an already unpacked copy instead.
const sisFallArchive = "../../../../shared/data/sisfall/sisfall-SA01-SA12.tar.xz"

// fallAllDArchive is FallAllD's waist device in SisFall's layout;
// FALLALLD_DIR may name an unpacked copy instead.
const fallAllDArchive = "../../../../shared/data/fallalld/fallalld-FA01-FA08.tar.xz"

type dataSet struct {
	name, archive, env, probe string
	once                      sync.Once
	unpacked                  string
	err                       error
}

var (
	sisFallSet  = &dataSet{name: "sisfall", archive: sisFallArchive, env: "SISFALL_DIR", probe: "SA01"}
	fallAllDSet = &dataSet{name: "fallalld", archive: fallAllDArchive, env: "FALLALLD_DIR", probe: "FA01"}
)

// sisFallDir returns the unpacked SisFall folder, unpacking the archive once
// into a cache folder under os.TempDir() (outside the repository), or skips
// the test when the data or tar is not there.
func sisFallDir(t testing.TB) string { t.Helper(); return sisFallSet.dir(t) }

// fallAllDDir is sisFallDir for FallAllD.
func fallAllDDir(t testing.TB) string { t.Helper(); return fallAllDSet.dir(t) }

func (d *dataSet) dir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(d.env); dir != "" {
		return dir
	}
	sisFallArchive := d.archive
	info, err := os.Stat(sisFallArchive)
	if err != nil {
		t.Skipf("%s data not available (%v); set %s or provide %s", d.name, err, d.env, sisFallArchive)
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skipf("tar not available to unpack %s: %v", sisFallArchive, err)
	}
	d.once.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("dolbom-%s-%d-%d", d.name, info.Size(), info.ModTime().Unix()))
		if _, err := os.Stat(filepath.Join(dir, d.probe)); err == nil {
			d.unpacked = dir
			return
		}
		tmp, err := os.MkdirTemp(os.TempDir(), "dolbom-"+d.name+"-unpack-")
		if err != nil {
			d.err = err
			return
		}
		out, err := exec.Command("tar", "-xJf", sisFallArchive, "-C", tmp).CombinedOutput()
		if err != nil {
			os.RemoveAll(tmp)
			d.err = fmt.Errorf("tar: %v: %s", err, out)
			return
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			if _, serr := os.Stat(filepath.Join(dir, d.probe)); serr != nil {
				d.err = err
				return
			}
		}
		d.unpacked = dir
	})
	if d.err != nil {
		t.Skipf("cannot unpack %s: %v", sisFallArchive, d.err)
	}
	return d.unpacked
}

func TestEvaluateDirSisFall(t *testing.T) {
	dir := sisFallDir(t)
	r, err := EvaluateDir(dir, fall.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("in-sample SA01-SA12: %s", r.Summary())
	for _, code := range r.Activities() {
		a := r.PerActivity[code]
		t.Logf("  %s %d/%d", code, a.Detected, a.Trials)
	}
	if r.Trials != 1848 {
		t.Errorf("trials = %d, want the 1848 of SA01-SA12", r.Trials)
	}
	// The development subjects themselves: well above the held-out floors,
	// or the defaults have drifted from what docs/detection.md reports.
	if r.Sensitivity < 0.97 || r.Specificity < 0.97 {
		t.Errorf("in-sample sensitivity %.3f specificity %.3f, want both >= 0.97", r.Sensitivity, r.Specificity)
	}
}
