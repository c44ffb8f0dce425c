package gateway

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
	"github.com/dolbom/dolbom/store/storetest"
)

// The gateway's ports share decoded readings batches (the broker decodes
// them from a pool), and every stage still gets each hub's own readings:
// hubs publish batches side by side, each with values of its own, and the
// store keeps every reading and the health monitor ends on each hub's last
// battery value. Run with -race: a batch reused while the writer or a
// detector shard still read it would show here.
func TestSharedReadingBatchesReachEveryStage(t *testing.T) {
	if !(broker.Fanout{}).SharesReadingBatches() {
		t.Fatal("an empty broker.Fanout does not share")
	}
	g, pipe := startInProcessBroker(t, storetest.SQLite(t), broker.Config{ReadingsRate: 1e9, ReadingsBurst: 1 << 30})
	if !(broker.Fanout{g.Engine, g.Health}).SharesReadingBatches() || !g.Store.Journal().SharesReadingBatches() {
		t.Fatal("the gateway's ports do not share readings batches: the broker would not pool them")
	}
	const hubs, rounds = 6, 40
	secrets := provisionHubs(t, g, hubs)
	conns := make([]*rawHub, hubs)
	for h := range conns {
		hub := devices.HubID(fmt.Sprintf("bench-%04d", h))
		c := dialHub(t, pipe, hub, secrets[hub])
		defer c.conn.Close()
		conns[h] = c
	}
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	temp := func(h, k int) float64 { return 20 + float64(h) + float64(k)/100 }
	battery := func(h, k int) float64 { return 50 + float64(h) + float64(k)/100 }
	for k := range rounds {
		at := start.Add(time.Duration(k) * time.Second)
		for h, c := range conns { // all hubs' batches in flight together
			hub := devices.HubID(fmt.Sprintf("bench-%04d", h))
			payload := devices.EncodeReadings(devices.ReadingBatch{SentAt: at, Readings: []devices.Reading{
				{Sensor: "temp-1", Metric: devices.MetricTemperature, At: at, Value: temp(h, k), Quality: -1},
				{Sensor: "batt-1", Metric: devices.MetricBattery, At: at, Value: battery(h, k), Quality: -1},
			}})
			c.send(t, func(buf *bytes.Buffer) error {
				return firmwaresim.AppendPublish(buf, 4, devices.Topic(hub, devices.ChanReadings), payload, 1, uint16(k+1), false, false)
			})
		}
		for h, c := range conns {
			if pk := c.read(t); pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(k+1) || pk.ReasonCode != 0 {
				t.Fatalf("hub %d round %d: want PUBACK, got %+v", h, k, pk)
			}
		}
	}
	ctx := context.Background()
	if err := g.Store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for h := range hubs {
		hub := devices.HubID(fmt.Sprintf("bench-%04d", h))
		rs, err := g.Store.Journal().Readings(ctx, hub, "temp-1", devices.MetricTemperature, start.Add(-time.Second), start.Add(rounds*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != rounds {
			t.Fatalf("%s: %d temperature readings stored, want %d", hub, len(rs), rounds)
		}
		for k, r := range rs {
			if r.Value != temp(h, k) || !r.At.Equal(start.Add(time.Duration(k)*time.Second)) {
				t.Errorf("%s reading %d: %v at %v, want %v at %v", hub, k, r.Value, r.At, temp(h, k), start.Add(time.Duration(k)*time.Second))
			}
		}
		want := battery(h, rounds-1)
		var got float64
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if hh, ok := g.Health.Health(hub); ok {
				for _, s := range hh.Sensors {
					if s.Sensor == "batt-1" {
						got = s.Battery
					}
				}
			}
			if math.Abs(got-want) < 1e-4 {
				break
			}
		}
		if math.Abs(got-want) >= 1e-4 {
			t.Errorf("%s: health monitor's battery %v, want the last batch's %v", hub, got, want)
		}
	}
}
