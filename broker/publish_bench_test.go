package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// BenchmarkReadingsToPuback is BenchmarkPublishToPuback for the message most
// hubs send: a minute's readings batch (20 readings) at QoS 1, with a
// journal that takes it at once. Its allocations per op are the broker's
// garbage per batch plus the benchmark client's.
func BenchmarkReadingsToPuback(b *testing.B) {
	now := time.Now()
	rs := make([]devices.Reading, 0, 20)
	for i := range 20 {
		rs = append(rs, devices.Reading{Sensor: "kitchen-heat", Metric: devices.MetricTemperature,
			At: now.Add(time.Duration(i) * time.Second), Value: 21.5 + float64(i)/10, Quality: -1})
	}
	payload := devices.EncodeReadings(devices.ReadingBatch{SentAt: now, Readings: rs})
	for _, path := range bothPaths {
		for _, v := range []byte{4, 5} {
			b.Run("path="+path.name+"/mqtt="+strconv.Itoa(int(v)), func(b *testing.B) {
				publishToPuback(b, Config{ReadingsRate: 1e9, ReadingsBurst: 1 << 30}, path, v, devices.ChanReadings, payload)
			})
		}
	}
}
