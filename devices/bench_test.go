package devices

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"testing"
	"time"
)

// BenchmarkDecode measures the per-message cost of validating what hubs send:
// the decoder runs on each hub's read goroutine before the PUBACK.
//
//	go test ./devices -run XXX -bench BenchmarkDecode -benchmem
func BenchmarkDecode(b *testing.B) {
	at := testNow.Add(-time.Minute)
	batch := ReadingBatch{SentAt: testNow}
	for i := range 10 {
		batch.Readings = append(batch.Readings,
			Reading{Sensor: SensorID(fmt.Sprintf("sensor-%d", i)), Metric: MetricTemperature, At: at, Value: 21.5 + float64(i)/10, Quality: -1})
	}
	batch.Readings[8] = Reading{Sensor: "bedroom-radar", Metric: MetricHeartRate, At: at, Value: 62, Quality: 0.9}
	batch.Readings[9] = Reading{Sensor: "bedroom-radar", Metric: MetricRespiration, At: at, Value: 14, Quality: 0.8}

	event := Event{ID: "e-000184", Kind: EventFall, Sensor: "wearable-1", At: at, Value: 3.4, HasValue: true,
		Detail: []byte(`{"algorithm":"vendor-fd-2","impact_g":3.4,"lying_s":32}`)}

	chunk := AccelChunk{Sensor: "wearable-1", At: at, RateHz: 200}
	for i := range 200 {
		phase := 2 * math.Pi * 1.8 * float64(i) / 200
		chunk.X = append(chunk.X, float32(math.Round(0.05*math.Sin(phase)*1000)/1000))
		chunk.Y = append(chunk.Y, float32(math.Round((-0.98+0.22*math.Sin(phase+0.4))*1000)/1000))
		chunk.Z = append(chunk.Z, float32(math.Round((0.12+0.08*math.Cos(phase/2))*1000)/1000))
	}

	sim, err := os.ReadFile("testdata/sim-minute.json")
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name    string
		channel Channel
		payload []byte
		now     time.Time
	}{
		{"kind=readings/n=10", ChanReadings, EncodeReadings(batch), testNow},
		// The simulator's minute batch, as the national load sends it.
		{"kind=readings/sim=17", ChanReadings, bytes.TrimSpace(sim), simMinuteReceived},
		{"kind=event", ChanEvents, EncodeEvent(event), testNow},
		{"kind=accel/samples=200", ChanAccel, EncodeAccel(chunk), testNow},
		// One hub in six each minute at national scale (every 5 minutes).
		{"kind=heartbeat", ChanHeartbeat, EncodeHeartbeat(Heartbeat{At: at, Uptime: 86400 * time.Second, RSSI: -61, Queued: 2}), testNow},
	}
	for _, c := range cases {
		topic := Topic(testHub, c.channel)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.payload)))
			for b.Loop() {
				if _, err := Decode(topic, c.payload, c.now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The broker's way in the gateway: the batch from the pool, released
	// once the stages are done with it (DecodeShared).
	b.Run("kind=readings/sim=17/shared", func(b *testing.B) {
		payload := bytes.TrimSpace(sim)
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			m, err := DefaultLimits.DecodeShared(testHub, ChanReadings, payload, simMinuteReceived)
			if err != nil {
				b.Fatal(err)
			}
			m.Readings.Release()
		}
	})
}

// simMinuteReceived is 1 s after testdata/sim-minute.json was sent (its
// "sent"): when the gateway receives it.
var simMinuteReceived = time.UnixMilli(1796062080000 + 1000)
