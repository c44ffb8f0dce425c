package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// Every appended event is counted once in each stage of
// dolbom_store_event_stage_seconds (queue, lock, commit), the split of the
// durable PUBACK's store part that the benchmark reports.
func TestEventStagesObservedPerEvent(t *testing.T) {
	for name, cfg := range map[string]func(testing.TB) store.Config{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c := cfg(t)
			c.Registerer = reg
			s, ctx := startStore(t, c)
			const events = 5
			now := time.Now()
			for i := range events {
				e := &devices.Event{Hub: "hub-1", ID: devices.EventID(fmt.Sprintf("e-%d", i)), Kind: devices.EventSOS, At: now, Received: now}
				if _, err := s.Journal().AppendEvent(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]uint64{}
			for _, mf := range mfs {
				if mf.GetName() != "dolbom_store_event_stage_seconds" {
					continue
				}
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "stage" {
							counts[l.GetValue()] = m.GetHistogram().GetSampleCount()
						}
					}
				}
			}
			for _, stage := range []string{"queue", "lock", "commit"} {
				if counts[stage] != events {
					t.Errorf("stage %s observed %d times, want %d (one per event)", stage, counts[stage], events)
				}
			}
		})
	}
}
