package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// BenchmarkAppendReadingsSim is the store's whole cost for one hub's minute
// batch (the simulator's 17 readings, devices/testdata/sim-minute.json):
// AppendReadings on the hub's goroutine plus the readings writer's share
// of encoding and writing it (its allocations count too: B/op is the
// process's). Batches come from 30,000 hubs in turn; every 1,000 the
// benchmark waits for them to be written.
func BenchmarkAppendReadingsSim(b *testing.B) {
	payload, err := os.ReadFile("../devices/testdata/sim-minute.json")
	if err != nil {
		b.Fatal(err)
	}
	payload = bytes.TrimSpace(payload)
	const hubs = 30_000
	for _, be := range backends(b) {
		b.Run("backend="+be.name+fmt.Sprintf("/hubs=%d", hubs), func(b *testing.B) {
			s, _ := runStore(b, be.fresh(b))
			ctx := context.Background()
			batches := make([]*devices.ReadingBatch, hubs)
			// Received now: the fixture's own minute is old enough to take
			// the store-and-forward path (merged into old hourly rollups).
			shift := time.Now().Truncate(time.Minute).Sub(time.UnixMilli(1796062080000))
			for i := range batches {
				hub := devices.HubID(fmt.Sprintf("hub-%06d", i))
				m, err := devices.Decode(devices.Topic(hub, devices.ChanReadings), payload, time.UnixMilli(1796062080000+1000))
				if err != nil {
					b.Fatal(err)
				}
				rb := m.Readings
				rb.SentAt, rb.Received = rb.SentAt.Add(shift), rb.Received.Add(shift)
				for k := range rb.Readings {
					rb.Readings[k].At = rb.Readings[k].At.Add(shift)
				}
				batches[i] = rb
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// A copy per append: the store keeps the batch until written.
				src := batches[i%hubs]
				rb := *src
				rb.Readings = append([]devices.Reading(nil), src.Readings...)
				if err := s.Journal().AppendReadings(ctx, &rb); err != nil {
					b.Fatal(err)
				}
				if i++; i%1000 == 0 {
					if err := s.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
