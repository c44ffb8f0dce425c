package falleval

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// SisFall's recording: 200 Hz; the ADXL345 (first three columns) reads ±16 g
// in 13 bits, so g = raw * 2*16 / 2^13 (the dataset's Readme). Its axes at the
// waist: y is the body's vertical (standing reads about (0, -1, 0) g), x and z
// span the horizontal plane.
const (
	SisFallRateHz  = 200
	sisFallGPerLSB = 32.0 / 8192.0
)

// ErrNotTrial is returned for a file whose name is not a SisFall trial name
// (<CODE>_<SUBJECT>_R<NN>.txt with CODE Dxx or Fxx).
var ErrNotTrial = errors.New("fall: not a sisfall trial file name")

// Trial is one SisFall recording: the ADXL345 samples in g at RateHz and the
// label taken from the file name.
type Trial struct {
	Path     string
	Activity string // "D01".."D19" daily activity, "F01".."F15" fall
	Subject  string // "SA01", "SE06", ...
	Run      int    // the trial number, R<NN>
	IsFall   bool
	RateHz   int
	X, Y, Z  []float32
}

// Duration returns the trial's length.
func (tr *Trial) Duration() time.Duration {
	if tr.RateHz == 0 {
		return 0
	}
	return time.Duration(len(tr.X)) * time.Second / time.Duration(tr.RateHz)
}

// Chunks cuts the trial into chunks of the given length as a wearable would
// publish them, the first starting at start. The chunks share the trial's
// sample slices.
func (tr *Trial) Chunks(start time.Time, every time.Duration, sensor devices.SensorID) []devices.AccelChunk {
	per := max(int(every*time.Duration(tr.RateHz)/time.Second), 1)
	chunks := make([]devices.AccelChunk, 0, len(tr.X)/per+1)
	for i := 0; i < len(tr.X); i += per {
		j := min(i+per, len(tr.X))
		chunks = append(chunks, devices.AccelChunk{
			Sensor: sensor,
			At:     start.Add(time.Duration(i) * time.Second / time.Duration(tr.RateHz)),
			RateHz: tr.RateHz,
			X:      tr.X[i:j], Y: tr.Y[i:j], Z: tr.Z[i:j],
		})
	}
	return chunks
}

// ParseTrialName splits a SisFall file name such as "F05_SA01_R04.txt".
func ParseTrialName(name string) (activity, subject string, run int, err error) {
	base, ok := strings.CutSuffix(filepath.Base(name), ".txt")
	parts := strings.Split(base, "_")
	if !ok || len(parts) != 3 {
		return "", "", 0, fmt.Errorf("%w: %q", ErrNotTrial, name)
	}
	activity, subject = parts[0], parts[1]
	if len(activity) != 3 || (activity[0] != 'D' && activity[0] != 'F') || !digits(activity[1:]) {
		return "", "", 0, fmt.Errorf("%w: %q: activity %q", ErrNotTrial, name, activity)
	}
	if len(subject) < 3 || !digits(strings.TrimLeft(subject, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
		return "", "", 0, fmt.Errorf("%w: %q: subject %q", ErrNotTrial, name, subject)
	}
	if len(parts[2]) < 2 || parts[2][0] != 'R' || !digits(parts[2][1:]) {
		return "", "", 0, fmt.Errorf("%w: %q: run %q", ErrNotTrial, name, parts[2])
	}
	run, err = strconv.Atoi(parts[2][1:])
	if err != nil {
		return "", "", 0, fmt.Errorf("%w: %q: %w", ErrNotTrial, name, err)
	}
	return activity, subject, run, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ReadSisFallTrial reads one trial file.
func ReadSisFallTrial(path string) (Trial, error) {
	activity, subject, run, err := ParseTrialName(path)
	if err != nil {
		return Trial{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Trial{}, fmt.Errorf("fall: %w", err)
	}
	defer f.Close()
	x, y, z, err := ParseSisFall(f)
	if err != nil {
		return Trial{}, fmt.Errorf("fall: %s: %w", path, err)
	}
	return Trial{
		Path: path, Activity: activity, Subject: subject, Run: run,
		IsFall: activity[0] == 'F', RateHz: SisFallRateHz, X: x, Y: y, Z: z,
	}, nil
}

// ParseSisFall reads SisFall's text format: one sample per line, at least
// three comma-separated integers (the ADXL345's x, y, z), the line ending in
// ';'. It returns the accelerometer in g. Blank lines are skipped; anything
// else malformed is an error naming the line.
func ParseSisFall(r io.Reader) (x, y, z []float32, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		b = bytes.TrimSpace(bytes.TrimSuffix(b, []byte{';'}))
		if len(b) == 0 {
			continue
		}
		var v [3]float32
		for a := range v {
			field := b
			if i := bytes.IndexByte(b, ','); i >= 0 {
				field, b = b[:i], b[i+1:]
			} else if a < 2 {
				return nil, nil, nil, fmt.Errorf("line %d: %d columns, want at least 3", line, a+1)
			} else {
				b = nil
			}
			n, perr := strconv.Atoi(string(bytes.TrimSpace(field)))
			if perr != nil {
				return nil, nil, nil, fmt.Errorf("line %d column %d: %w", line, a+1, perr)
			}
			if n < -1<<15 || n >= 1<<15 {
				return nil, nil, nil, fmt.Errorf("line %d column %d: %d out of range", line, a+1, n)
			}
			v[a] = float32(float64(n) * sisFallGPerLSB)
		}
		x, y, z = append(x, v[0]), append(y, v[1]), append(z, v[2])
	}
	if err := sc.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return x, y, z, nil
}

// ListTrials returns the SisFall trial files under dir, at any depth, in
// lexical order: subject folders may have any name (SA01, SE06, ...).
func ListTrials(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if _, _, _, perr := ParseTrialName(d.Name()); perr == nil {
				paths = append(paths, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fall: list trials: %w", err)
	}
	return paths, nil
}

// Resampled returns a copy of the trial as a wearable with another sensor
// would have recorded it: at rateHz (a divisor of the trial's rate), each
// output sample the mean of the input samples of its period (an
// accelerometer's own low-pass at its output rate), and each axis clipped to
// ±clipG (0: no clipping). It answers "would the detector still work with
// the hub's sensor" without other data (docs/detection.md, sensor rates).
func (tr *Trial) Resampled(rateHz int, clipG float64) (Trial, error) {
	if rateHz <= 0 || tr.RateHz%rateHz != 0 {
		return Trial{}, fmt.Errorf("fall: resample %s from %d Hz to %d Hz: not a divisor", tr.Path, tr.RateHz, rateHz)
	}
	step := tr.RateHz / rateHz
	out := *tr
	out.RateHz = rateHz
	n := len(tr.X) / step
	out.X, out.Y, out.Z = make([]float32, n), make([]float32, n), make([]float32, n)
	for axis, src := range [3][]float32{tr.X, tr.Y, tr.Z} {
		dst := [3][]float32{out.X, out.Y, out.Z}[axis]
		for i := range n {
			var sum float64
			for _, v := range src[i*step : (i+1)*step] {
				sum += float64(v)
			}
			v := sum / float64(step)
			if clipG > 0 {
				v = max(-clipG, min(clipG, v))
			}
			dst[i] = float32(v)
		}
	}
	return out, nil
}
