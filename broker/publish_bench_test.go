package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
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
	for _, v := range []byte{4, 5} {
		b.Run("mqtt="+strconv.Itoa(int(v)), func(b *testing.B) {
			_, pl, stop := startBench(b, Config{ReadingsRate: 1e9, ReadingsBurst: 1 << 30})
			defer stop()
			conn, err := pl.Dial()
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c, ack := connectRaw(b, conn, connectOpts{v: v, id: "hub-bench", user: "hub-bench", pass: "s", clean: true})
			if ack.ReasonCode != 0 {
				b.Fatalf("connect: %#x", ack.ReasonCode)
			}
			topic := devices.Topic("hub-bench", devices.ChanReadings)
			id := uint16(0)
			b.ReportAllocs()
			for b.Loop() {
				id = id%60000 + 1
				c.publish(topic, payload, 1, id)
				if pk, err := c.readTimeout(5 * time.Second); err != nil || pk.FixedHeader.Type != packets.Puback || pk.ReasonCode >= 0x80 {
					b.Fatalf("no PUBACK: %v %+v", err, pk)
				}
			}
		})
	}
}
