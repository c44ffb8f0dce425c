package detectors

import (
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// loadedEngine builds shard state for homes homes, each with a smoke
// detector (smoke, temperature, humidity), a CO sensor, a PIR and a radar
// (presence, heart rate, respiration) reporting, driven directly as the
// shard goroutines would.
func loadedEngine(tb testing.TB, homes int, tracker NewFallTrackerFunc) (*Engine, []devices.HubID, time.Time) {
	return loadedEngineShards(tb, homes, 4, tracker)
}

// startedEngine is an engine whose shards are started but not running: a
// test drives them directly.
func startedEngine(tb testing.TB, shards int, tracker NewFallTrackerFunc) (*Engine, time.Time) {
	e, err := NewEngine(EngineConfig{Sink: SinkFunc(func(Detection) {}), Shards: shards, Logger: zerolog.Nop(), NewFallTracker: tracker})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	for _, s := range e.shards {
		s.startup(now)
	}
	return e, now
}

func loadedEngineShards(tb testing.TB, homes, shards int, tracker NewFallTrackerFunc) (*Engine, []devices.HubID, time.Time) {
	e, now := startedEngine(tb, shards, tracker)
	ids := make([]devices.HubID, homes)
	for n := range homes {
		id := devices.HubID(fmt.Sprintf("hub-%07d", n))
		ids[n] = id
		rs := []devices.Reading{
			{Sensor: "kitchen-smoke", Metric: devices.MetricSmoke, At: now, Value: 0.1, Quality: -1},
			{Sensor: "kitchen-smoke", Metric: devices.MetricTemperature, At: now, Value: 23, Quality: -1},
			{Sensor: "kitchen-smoke", Metric: devices.MetricHumidity, At: now, Value: 45, Quality: -1},
			{Sensor: "hall-co", Metric: devices.MetricCO, At: now, Value: 1, Quality: -1},
			{Sensor: "hall-pir", Metric: devices.MetricMotion, At: now, Value: 1, Quality: -1},
			{Sensor: "radar", Metric: devices.MetricPresence, At: now, Value: 1, Quality: -1},
			{Sensor: "radar", Metric: devices.MetricHeartRate, At: now, Value: 70, Quality: 0.9},
			{Sensor: "radar", Metric: devices.MetricRespiration, At: now, Value: 14, Quality: 0.9},
		}
		e.shardOf(id).Handle(engineOp{msg: &devices.Message{Hub: id, Channel: devices.ChanReadings,
			Readings: &devices.ReadingBatch{Hub: id, SentAt: now, Received: now, Readings: rs}}})
	}
	for _, s := range e.shards {
		s.collect(shard.EverySlot, 0)
	}
	return e, ids, now
}

// BenchmarkEngineScalarReading: one heart-rate reading through its rule
// (queueing aside), homes=300000.
func BenchmarkEngineScalarReading(b *testing.B) {
	for _, n := range []int{300000} {
		b.Run(fmt.Sprintf("homes=%d", n), func(b *testing.B) {
			e, ids, now := loadedEngine(b, n, nil)
			msgs := make([]*devices.Message, 1024)
			for k := range msgs {
				id := ids[(k*7919)%len(ids)]
				msgs[k] = &devices.Message{Hub: id, Channel: devices.ChanReadings, Readings: &devices.ReadingBatch{Hub: id,
					Readings: []devices.Reading{{Sensor: "radar", Metric: devices.MetricHeartRate, Value: 71, Quality: 0.9}}}}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m := msgs[i%len(msgs)]
				at := now.Add(time.Duration(i/len(msgs)+1) * time.Second)
				m.Readings.SentAt, m.Readings.Received, m.Readings.Readings[0].At = at, at, at
				e.shardOf(m.Hub).Handle(engineOp{msg: m})
				i++
			}
		})
	}
}

// staticTracker is a fake tracker that finds nothing, as for daily life.
type staticTracker struct{}

func (staticTracker) Feed(*devices.AccelChunk) []FallFinding { return nil }

// BenchmarkEngineAccelChunk: a 1 s, 200 Hz chunk through the engine's fall
// path with a fake tracker (the real tracker's own cost is in package fall).
func BenchmarkEngineAccelChunk(b *testing.B) {
	e, ids, now := loadedEngine(b, 1000, func(devices.HubID, devices.SensorID) FallTracker { return staticTracker{} })
	c := accelChunk(ids[0], "wearable-1", now, true)
	m := &devices.Message{Hub: ids[0], Channel: devices.ChanAccel, Accel: c}
	s := e.shardOf(ids[0])
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		c.At = now.Add(time.Duration(i) * time.Second)
		c.Received = c.SampleTime(199)
		s.Handle(engineOp{msg: m})
	}
}

// BenchmarkEngineMemory reports heap and snapshot bytes per home.
func BenchmarkEngineMemory(b *testing.B) {
	for _, n := range []int{300000} {
		b.Run(fmt.Sprintf("homes=%d", n), func(b *testing.B) {
			for b.Loop() {
				before := shardtest.HeapInUse()
				e, _, _ := loadedEngine(b, n, nil)
				after := shardtest.HeapInUse()
				snap := 0
				for _, s := range e.shards {
					for i := range s.homes.Len() {
						snap += len(encodeHome(s.homes.At(i)))
					}
				}
				b.ReportMetric(float64(after-before)/float64(n), "heap_B/home")
				b.ReportMetric(float64(snap)/float64(n), "snapshot_B/home")
				if e.shards[0].homes.Len() == 0 {
					b.Fatal("no homes")
				}
			}
		})
	}
}

// BenchmarkCollectSeenCycle: the work the save loop asks of one engine
// shard over a seen interval (12 rounds at the defaults), every home seen
// since the last and 1% of them changing state each round, collected in
// chunks as runSaves does. max_round_homes is the largest round's write.
func BenchmarkCollectSeenCycle(b *testing.B) {
	for _, n := range []int{40_000} {
		b.Run(fmt.Sprintf("homes=%d", n), func(b *testing.B) {
			e, _, _ := loadedEngineShards(b, n, 1, nil)
			s := e.shards[0]
			rounds := shard.SeenRounds(e.cfg.SaveInterval, e.cfg.SeenInterval)
			maxRound := 0
			b.ReportAllocs()
			for b.Loop() {
				for i := range s.homes.Len() {
					s.dirty.Mark(int32(i), false)
				}
				for r := 1; r <= rounds; r++ {
					for k := r; k < int(s.homes.Len()); k += 100 {
						s.dirty.Mark(int32(k), true)
					}
					got := 0
					for more := true; more; {
						var out []HomeSnapshot
						out, more = s.collect(r%rounds, shard.SaveChunk)
						got += len(out)
					}
					maxRound = max(maxRound, got)
				}
			}
			b.ReportMetric(float64(maxRound), "max_round_homes")
		})
	}
}
