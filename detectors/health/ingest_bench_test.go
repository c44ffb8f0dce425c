package health

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// BenchmarkIngestSimMinute is the monitor's work for one hub's minute batch
// (the simulator's 17 readings), without its queue: the monitor's part of
// the per-message cost of detection at national scale (package detectors
// measures the engine's part under the same name; the gateway hands each
// batch to both). Every hub has sent a batch before (steady state); each
// iteration is the next minute of one hub.
func BenchmarkIngestSimMinute(b *testing.B) {
	const hubs = 30_000
	b.Run(fmt.Sprintf("hubs=%d", hubs), func(b *testing.B) {
		m, err := New(Config{Sink: detectors.SinkFunc(func(detectors.Detection) {}), Shards: 2, Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		tmpl := shardtest.SimMinute(b, "hub-0000000")
		now := tmpl.Readings.Received
		for _, s := range m.shards {
			s.startup(now)
		}
		// The simulator's sensors (firmware-sim/home.go), registered.
		kinds := map[devices.SensorID]devices.SensorKind{}
		for _, r := range tmpl.Readings.Readings {
			for _, k := range []devices.SensorKind{devices.SensorSmoke, devices.SensorHeat, devices.SensorCO, devices.SensorMotion,
				devices.SensorDoor, devices.SensorRadar, devices.SensorWearable} {
				if strings.Contains(string(r.Sensor), string(k)) {
					kinds[r.Sensor] = k
				}
			}
		}
		shardtest.BenchIngest(b, hubs, func(id devices.HubID, first *devices.Message) {
			var sensors []devices.Sensor
			for sid, kind := range kinds {
				sensors = append(sensors, devices.Sensor{Hub: id, ID: sid, Kind: kind, ReportSeconds: 60})
			}
			hs := m.shardOf(id)
			hs.Handle(op{kind: opRefresh, refresh: &registryEntry{hub: devices.Hub{ID: id, EndOfLife: now.AddDate(5, 0, 0)}, sensors: sensors}})
			hs.Handle(op{kind: opConnection, conn: devices.ConnectionEvent{Hub: id, Connected: true, At: now}})
			hs.Handle(op{kind: opMessage, msg: first})
		}, func() {
			for _, s := range m.shards {
				s.collect(shard.EverySlot, 0)
			}
		}, func(msg *devices.Message) { m.shardOf(msg.Hub).Handle(op{kind: opMessage, msg: msg}) })
	})
}
