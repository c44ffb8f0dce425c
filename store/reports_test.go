package store_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// seedReport opens n incidents of about 2 KB each, one a second from t0;
// every 10th is acknowledged through the second of its two notifications.
func seedReport(t *testing.T, s *store.Store, t0 time.Time, n int) {
	t.Helper()
	ctx := context.Background()
	long := strings.Repeat("연기 감지기가 주방에서 울렸습니다. ", 60)
	for start := 0; start < n; start += 1000 {
		var opens, acks []dispatch.Mutation
		for i := start; i < min(start+1000, n); i++ {
			id := fmt.Sprintf("inc-%06d", i)
			at := t0.Add(time.Duration(i) * time.Second)
			var rows []dispatch.OutboxRow
			if i%10 == 0 {
				for step := range 2 {
					rows = append(rows, dispatch.OutboxRow{Key: dispatch.NotificationKey(id, step, "g1", dispatch.ChannelVoice, 1), Kind: dispatch.KindNotify,
						Channel: dispatch.ChannelVoice, Step: step, Attempt: 1, Recipient: dispatch.Recipient{Role: dispatch.RoleGuardian, ID: "g1"},
						MsgType: dispatch.MsgAlert, Priority: 1, DueAt: at, Deadline: at.Add(time.Hour)})
				}
				acks = append(acks, dispatch.Mutation{IncidentID: id, Apply: func(cur *dispatch.Incident, _ *dispatch.OutboxRow) (dispatch.Change, error) {
					inc := *cur
					inc.State, inc.AcknowledgedAt, inc.AcknowledgedVia, inc.AcknowledgedBy = dispatch.StateAcknowledged, at.Add(time.Minute), dispatch.ChannelVoice, dispatch.AckActor(rows[1].Recipient)
					return dispatch.Change{Incident: &inc, Row: &dispatch.RowUpdate{Key: rows[1].Key, State: dispatch.OutboxAcknowledged}}, nil
				}})
			}
			opens = append(opens, dispatch.Mutation{Fingerprint: id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
				return dispatch.Change{Incident: &dispatch.Incident{ID: id, Fingerprint: id, Hub: "hub-1", Cause: detectors.CauseSOS,
					Class: detectors.ClassEmergency, Priority: 1, State: dispatch.StateNotified, Count: 1,
					Explanation: detectors.Explanation{Ko: long, En: long[:200]}, Episode: at, OpenedAt: at, UpdatedAt: at}, Enqueue: rows}, nil
			}})
		}
		for _, muts := range [][]dispatch.Mutation{opens, acks} {
			applyIncidents(t, ctx, s, muts)
		}
	}
}

// A report walks its period without holding it: the heap in use while the
// report is read stays far below the size of its incidents (the old code
// loaded up to 500,000 of them per request).
func TestReportIncidentsInBoundedMemory(t *testing.T) {
	for name, cfg := range map[string]func(testing.TB) store.Config{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(context.Background(), cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const n = 12000
			t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			seedReport(t, s, t0, n)

			// Incidents 100 to n-101: the period's bounds are honoured.
			from, to := t0.Add(100*time.Second), t0.Add((n-100)*time.Second)
			before := liveHeap()
			var grew uint64
			i := 100
			err = walkReport(s, from, to, func(ri console.ReportIncident) {
				if want := fmt.Sprintf("inc-%06d", i); ri.Incident.ID != want {
					t.Fatalf("incident %s, want %s (the oldest first)", ri.Incident.ID, want)
				}
				switch acked := ri.AckStep >= 0; {
				case acked != (i%10 == 0):
					t.Fatalf("%s: acknowledged at step %d by %q", ri.Incident.ID, ri.AckStep, ri.AckChannel)
				case acked && ri.AckStep != 1:
					t.Fatalf("%s: acknowledged at step %d, want 1", ri.Incident.ID, ri.AckStep)
				}
				if i%2000 == 0 {
					if h := liveHeap(); h > before {
						grew = max(grew, h-before)
					}
				}
				i++
			})
			if err != nil {
				t.Fatal(err)
			}
			if i != n-100 {
				t.Fatalf("report ended at incident %d, want %d", i, n-100)
			}
			// 11,800 incidents of ~2 KB: ~44 MB when held at once.
			t.Logf("the heap grew by at most %d KB while the report was read", grew>>10)
			if grew > 8<<20 {
				t.Errorf("the heap grew by %d MB while a report was read", grew>>20)
			}
		})
	}
}

// walkReport calls each for every incident of the report, in order.
func walkReport(s *store.Store, from, to time.Time, each func(console.ReportIncident)) error {
	for ri, err := range s.Casework().ReportIncidents(context.Background(), from, to) {
		if err != nil {
			return err
		}
		each(ri)
	}
	return nil
}
