package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	firmwaresim "github.com/dolbom/dolbom/firmware-sim"
)

// sisTrial is one SisFall recording: waist ADXL345 in g at 200 Hz.
type sisTrial struct {
	Path, Activity, Subject string
	Fall                    bool
	X, Y, Z                 []float32
}

// readSisFall reads a trial file (9 integer columns per line ending in ';';
// the first three are the ADXL345, g = raw*32/8192). To be replaced by
// fall.ReadSisFallTrial once detectors/fall has it.
func readSisFall(path string) (sisTrial, error) {
	base := filepath.Base(path)
	parts := strings.Split(strings.TrimSuffix(base, ".txt"), "_")
	if len(parts) != 3 {
		return sisTrial{}, fmt.Errorf("sisfall: %s: not CODE_SUBJECT_Rnn.txt", base)
	}
	t := sisTrial{Path: path, Activity: parts[0], Subject: parts[1], Fall: strings.HasPrefix(parts[0], "F")}
	f, err := os.Open(path)
	if err != nil {
		return t, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(sc.Text()), ";"))
		if line == "" {
			continue
		}
		cols := strings.Split(line, ",")
		if len(cols) < 3 {
			continue
		}
		var v [3]float32
		for i := range 3 {
			n, err := strconv.Atoi(strings.TrimSpace(cols[i]))
			if err != nil {
				return t, fmt.Errorf("sisfall: %s: %w", base, err)
			}
			v[i] = float32(n) * 32 / 8192
		}
		t.X, t.Y, t.Z = append(t.X, v[0]), append(t.Y, v[1]), append(t.Z, v[2])
	}
	return t, sc.Err()
}

// SisFallReport is the JSON of `dolbom-sim sisfall`.
type SisFallReport struct {
	Trials             int                       `json:"trials"`
	Falls              int                       `json:"falls"`
	ADLs               int                       `json:"adls"`
	ChunksSent         int64                     `json:"chunks_sent"`
	Sensitivity        *float64                  `json:"sensitivity"`
	Specificity        *float64                  `json:"specificity"`
	Accuracy           *float64                  `json:"accuracy"`
	FalseAlarmsPerHour *float64                  `json:"false_alarms_per_hour"`
	LatencyMSP50       *float64                  `json:"latency_ms_p50"`
	LatencyMSP99       *float64                  `json:"latency_ms_p99"`
	PerActivity        map[string]*activityScore `json:"per_activity"`
	Status             string                    `json:"status"`
	Note               string                    `json:"note,omitempty"`
}

type activityScore struct {
	Trials   int  `json:"trials"`
	Detected *int `json:"detected"`
}

func cmdSisFall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sisfall", flag.ContinueOnError)
	var c common
	c.register(fs)
	data := fs.String("data", "", "unpacked SisFall folder (SA01 ... SA12)")
	limit := fs.Int("limit", 0, "replay at most this many trials (0: all)")
	_ = fs.Bool("json", true, "JSON report (always)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(*data, "SA*", "*.txt"))
	sort.Strings(files)
	if len(files) == 0 {
		return errors.New("sisfall: no trials under --data (unpack /work/shared/data/sisfall/sisfall-SA01-SA12.tar.xz there)")
	}
	if *limit > 0 && len(files) > *limit {
		files = files[:*limit]
	}
	tr, prov, _, _, cleanup, err := c.setup(ctx, stderr, broker.Config{ReadingsBurst: 100000, ReadingsRate: 10000}, true)
	if err != nil {
		return err
	}
	defer cleanup()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fleet := firmwaresim.NewFleet(firmwaresim.Options{Transport: tr, Seed: c.seed, Version: c.version(), NoReadings: true})
	done := make(chan struct{})
	go func() { fleet.Run(rctx); close(done) }()
	secret, err := prov.provision(ctx, "sim-sisfall", true)
	if err != nil {
		return err
	}
	h := fleet.Add("sim-sisfall", secret, 0)
	fleet.Start(h, time.Now())
	if !waitFor(ctx, 20*time.Second, h.Online) {
		return errors.New("sisfall: hub not online")
	}
	rep := SisFallReport{PerActivity: map[string]*activityScore{}}
	var chunks int64
	for _, path := range files {
		t, err := readSisFall(path)
		if err != nil {
			return err
		}
		rep.Trials++
		if t.Fall {
			rep.Falls++
		} else {
			rep.ADLs++
		}
		a := rep.PerActivity[t.Activity]
		if a == nil {
			a = &activityScore{}
			rep.PerActivity[t.Activity] = a
		}
		a.Trials++
		// 1 s chunks, stamped as if recorded just now, sent back to back
		// (the in-process broker's rate limit is raised for the replay).
		start := time.Now().Add(-time.Duration(len(t.X)) * 5 * time.Millisecond)
		for i := 0; i < len(t.X); i += 200 {
			j := min(i+200, len(t.X))
			h.PublishAccel(devices.AccelChunk{Sensor: firmwaresim.SensorWearable, At: start.Add(time.Duration(i) * 5 * time.Millisecond),
				RateHz: 200, X: t.X[i:j], Y: t.Y[i:j], Z: t.Z[i:j]})
			chunks++
		}
	}
	rep.ChunksSent = chunks
	rep.Status = "pending"
	rep.Note = "replayed through the wearable's accel channel; the gateway does not wire detectors/fall yet and exposes no detections tap, so detections (and every rate) are null"
	cancel()
	<-done
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
