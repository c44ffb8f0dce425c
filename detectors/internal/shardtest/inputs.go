package shardtest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// SimMinute decodes the simulator's 17-reading night minute
// (devices/testdata/sim-minute.json, written by firmware-sim's
// TestSimMinuteFixture) as hub's, received 1 s after it was sent.
func SimMinute(tb testing.TB, hub devices.HubID) *devices.Message {
	tb.Helper()
	_, here, _, _ := runtime.Caller(0)
	payload, err := os.ReadFile(filepath.Join(filepath.Dir(here), "../../../devices/testdata/sim-minute.json"))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := devices.Decode(devices.Topic(hub, devices.ChanReadings), bytes.TrimSpace(payload), time.UnixMilli(1796062080000+1000))
	if err != nil {
		tb.Fatal(err)
	}
	return &m
}

// ShiftMinute moves every time of batch b forward by d.
func ShiftMinute(b *devices.ReadingBatch, d time.Duration) {
	b.SentAt, b.Received = b.SentAt.Add(d), b.Received.Add(d)
	for i := range b.Readings {
		b.Readings[i].At = b.Readings[i].At.Add(d)
	}
}

// ThirteenSensors is a reading from each sensor of the simulator's home
// (firmware-sim/home.go): fifteen tracks on thirteen sensors, each id a
// fresh string, as decoding makes them.
func ThirteenSensors(now time.Time) []devices.Reading {
	r := func(s devices.SensorID, m devices.Metric, v float64) devices.Reading {
		return devices.Reading{Sensor: devices.SensorID(string([]byte(s))), Metric: m, At: now, Value: v, Quality: -1}
	}
	return []devices.Reading{
		r("kitchen-smoke", devices.MetricSmoke, 0.1), r("kitchen-smoke", devices.MetricTemperature, 23),
		r("hallway-smoke", devices.MetricSmoke, 0.1), r("kitchen-heat", devices.MetricTemperature, 23),
		r("utility-co", devices.MetricCO, 1), r("motion-living", devices.MetricMotion, 0),
		r("motion-kitchen", devices.MetricMotion, 0), r("motion-bedroom", devices.MetricMotion, 0),
		r("motion-bathroom", devices.MetricMotion, 0), r("entrance-door", devices.MetricDoor, 0),
		r("bedroom-radar", devices.MetricPresence, 1), r("bedroom-radar", devices.MetricRespiration, 14),
		r("wearable-1", devices.MetricBattery, 80), r("pendant-1", devices.MetricBattery, 80),
		r("hub", devices.MetricBattery, 100),
	}
}

// HeapInUse is the live heap after two collections.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// CPUTime is the process's CPU time so far (user and system).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
