package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// The sealer's tests run on both back ends with an injected clock and the
// sealing loop off: each test seals by hand (store.SealRollups).

var sealBackends = []struct {
	name  string
	fresh func(testing.TB) store.Config
}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}}

// testClock is Config.Now for tests: set by hand, read by the store.
type testClock struct{ us atomic.Int64 }

func (c *testClock) set(t time.Time)  { c.us.Store(t.UnixMicro()) }
func (c *testClock) now() time.Time   { return time.UnixMicro(c.us.Load()).UTC() }
func newClock(t time.Time) *testClock { c := &testClock{}; c.set(t); return c }

// sealHour0 is the hour the tests' readings fall in; the store opens at
// 20 minutes past it, so migration 6 starts sealing at the hour before.
var sealHour0 = time.Date(2030, 1, 7, 10, 0, 0, 0, time.UTC)

func openSealStore(t *testing.T, fresh func(testing.TB) store.Config, clock *testClock) *store.Store {
	t.Helper()
	cfg := fresh(t)
	cfg.Now = clock.now
	cfg.SealInterval = -1 // sealed by hand
	cfg.SealChunk = 2     // several chunks with a handful of hubs
	cfg.SealPause = time.Nanosecond
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return s
}

func sealReading(sensor devices.SensorID, metric devices.Metric, at time.Time, v float64) devices.Reading {
	return devices.Reading{Sensor: sensor, Metric: metric, At: at, Value: v, Quality: -1}
}

// appendFlush writes batches and waits for their flush.
func appendFlush(t *testing.T, s *store.Store, batches ...*devices.ReadingBatch) {
	t.Helper()
	if err := tryAppendFlush(s, batches...); err != nil {
		t.Fatal(err)
	}
}

// tryAppendFlush is appendFlush for goroutines other than the test's.
func tryAppendFlush(s *store.Store, batches ...*devices.ReadingBatch) error {
	ctx := context.Background()
	for _, b := range batches {
		if err := s.Journal().AppendReadings(ctx, b); err != nil {
			return err
		}
	}
	return s.Flush(ctx)
}

// hubMinutes returns a batch of hub for each minute in [from, from+n):
// motion from two sensors and a temperature with decimals, so that sums
// depend on the order they are added in.
func hubMinutes(hub devices.HubID, from time.Time, n, seed int) []*devices.ReadingBatch {
	var out []*devices.ReadingBatch
	for m := range n {
		at := from.Add(time.Duration(m) * time.Minute)
		v := float64((seed*31+m*7)%17) / 10
		out = append(out, &devices.ReadingBatch{Hub: hub, Received: at, Readings: []devices.Reading{
			sealReading("pir-1", devices.MetricMotion, at.Add(5*time.Second), float64(m%3)),
			sealReading("pir-2", devices.MetricMotion, at.Add(5*time.Second), 1),
			sealReading("k", devices.MetricTemperature, at.Add(30*time.Second), 20.1+v),
		}})
	}
	return out
}

type rollupView struct {
	hourly   map[string][]store.Rollup
	resident []store.Rollup
	caseload []console.ActivityWindow
}

// viewRollups reads every hourly query over the test hours.
func viewRollups(t *testing.T, s *store.Store, hubs []devices.HubID, resident devices.ResidentID) rollupView {
	t.Helper()
	ctx := context.Background()
	from, to := sealHour0.Add(-2*time.Hour), sealHour0.Add(3*time.Hour)
	v := rollupView{hourly: map[string][]store.Rollup{}}
	for _, hub := range hubs {
		for _, sm := range []struct {
			sensor devices.SensorID
			metric devices.Metric
		}{{"pir-1", devices.MetricMotion}, {"pir-2", devices.MetricMotion}, {"k", devices.MetricTemperature}} {
			rs, err := s.Journal().Rollups(ctx, hub, sm.sensor, sm.metric, time.Hour, from, to)
			if err != nil {
				t.Fatal(err)
			}
			v.hourly[fmt.Sprintf("%s/%s/%s", hub, sm.sensor, sm.metric)] = rs
		}
	}
	hourly, err := s.Casework().ResidentHourly(ctx, resident, devices.MetricMotion, from, to)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range hourly { // compared as rollups, with their tolerance
		v.resident = append(v.resident, store.Rollup{Bucket: p.Hour, Count: p.Count, Sum: p.Sum, Min: p.Min, Max: p.Max, Avg: p.Avg})
	}
	if v.caseload, err = s.Casework().CaseloadActivity(ctx, "sw-seal", from, sealHour0.Add(time.Hour), to); err != nil {
		t.Fatal(err)
	}
	return v
}

func equalViews(t *testing.T, what string, got, want rollupView) {
	t.Helper()
	for k, w := range want.hourly {
		if !storetest.RollupsEqual(got.hourly[k], w) {
			t.Errorf("%s: hourly rollups of %s\n got %+v\nwant %+v", what, k, got.hourly[k], w)
		}
	}
	if !storetest.RollupsEqual(got.resident, want.resident) {
		t.Errorf("%s: resident rollups\n got %+v\nwant %+v", what, got.resident, want.resident)
	}
	if fmt.Sprint(got.caseload) != fmt.Sprint(want.caseload) {
		t.Errorf("%s: caseload activity\n got %+v\nwant %+v", what, got.caseload, want.caseload)
	}
}

func createResidentHubs(t *testing.T, s *store.Store, hubs ...devices.HubID) devices.ResidentID {
	t.Helper()
	ctx := context.Background()
	r, err := s.Registry().CreateResident(ctx, devices.Resident{Name: "김영희", BirthDate: "1941-03-02", Phone: "+821012345678", Language: "ko",
		Address:        devices.Address{Line1: "서울특별시 종로구 세종대로 209", District: "종로구", Lat: 37.57, Lon: 126.97},
		SocialWorkerID: "sw-seal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hubs {
		if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: h, ResidentID: r.ID, InstalledAt: sealHour0.AddDate(-1, 0, 0), SecretHash: "$argon2id$x"}); err != nil {
			t.Fatal(err)
		}
	}
	return r.ID
}

// TestSealUnsealedEqualsSealed: every hourly query returns the same for an
// hour read from the raw batches (not sealed yet) and from its blobs.
func TestSealUnsealedEqualsSealed(t *testing.T) {
	for _, be := range sealBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := newClock(sealHour0.Add(20 * time.Minute))
			s := openSealStore(t, be.fresh, clock)
			ctx := context.Background()
			hubs := []devices.HubID{"hub-a", "hub-b", "hub-c", "hub-d", "hub-e"}
			resident := createResidentHubs(t, s, "hub-a", "hub-b")
			// Hour 0 in several flushes, a few minutes of hour 1, and a
			// batch straddling the two hours.
			for i, hub := range hubs {
				for part := range 3 {
					appendFlush(t, s, hubMinutes(hub, sealHour0.Add(time.Duration(part*20)*time.Minute), 20, i+part)...)
				}
			}
			// Before 1 h + SealGrace - SealMargin: no markers.
			clock.set(sealHour0.Add(time.Hour + 4*time.Minute))
			for i, hub := range hubs {
				appendFlush(t, s, hubMinutes(hub, sealHour0.Add(time.Hour), 5, i)...)
			}
			appendFlush(t, s, &devices.ReadingBatch{Hub: "hub-a", Readings: []devices.Reading{
				sealReading("k", devices.MetricTemperature, sealHour0.Add(59*time.Minute+50*time.Second), 19.7),
				sealReading("k", devices.MetricTemperature, sealHour0.Add(60*time.Minute+10*time.Second), 19.9)}})
			before := viewRollups(t, s, hubs, resident)
			if n := len(before.hourly["hub-a/k/temperature"]); n != 2 {
				t.Fatalf("hub-a temperature has %d hourly rollups before sealing, want 2: %+v", n, before.hourly["hub-a/k/temperature"])
			}
			sealed, markers, blobs, err := store.RollupState(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if !sealed.Equal(sealHour0.Add(-time.Hour)) || markers != 0 || len(blobs) != 0 {
				t.Fatalf("before sealing: sealed before %s, %d markers, %d blobs; want %s, 0, 0", sealed, markers, len(blobs), sealHour0.Add(-time.Hour))
			}

			// Not due yet: hour 0 is sealed at 1 h + SealGrace (10 min).
			seal(t, ctx, s)
			if sealed, _, _, _ := store.RollupState(ctx, s); !sealed.Equal(sealHour0) {
				t.Errorf("sealed before %s, want %s (hour -1 only)", sealed, sealHour0)
			}
			clock.set(sealHour0.Add(time.Hour + 10*time.Minute))
			seal(t, ctx, s)
			sealed, markers, blobs, err = store.RollupState(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if !sealed.Equal(sealHour0.Add(time.Hour)) || markers != 0 || len(blobs) != len(hubs) {
				t.Fatalf("after sealing: sealed before %s, %d markers, %d blobs; want %s, 0, %d", sealed, markers, len(blobs), sealHour0.Add(time.Hour), len(hubs))
			}
			equalViews(t, "sealed", viewRollups(t, s, hubs, resident), before)
		})
	}
}

// TestSealLateData: a late batch for a sealed hour writes a marker and the
// sealer recomputes the hour; a marker written after the sealer took the
// markers survives to the next round.
func TestSealLateData(t *testing.T) {
	for _, be := range sealBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := newClock(sealHour0.Add(20 * time.Minute))
			s := openSealStore(t, be.fresh, clock)
			ctx := context.Background()
			appendFlush(t, s, hubMinutes("hub-a", sealHour0, 30, 1)...)
			clock.set(sealHour0.Add(time.Hour + 10*time.Minute))
			seal(t, ctx, s)
			count := func() int64 {
				t.Helper()
				rs, err := s.Journal().Rollups(ctx, "hub-a", "pir-2", devices.MetricMotion, time.Hour, sealHour0, sealHour0.Add(time.Hour))
				if err != nil || len(rs) != 1 {
					t.Fatalf("hourly rollup = %+v, %v", rs, err)
				}
				return rs[0].Count
			}
			markers := func() int {
				t.Helper()
				_, n, _, err := store.RollupState(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if c := count(); c != 30 {
				t.Fatalf("sealed hour counts %d, want 30", c)
			}

			// Store and forward: minutes 40-44 of the sealed hour arrive
			// late, beside a batch of the current hour (no marker).
			late := hubMinutes("hub-a", sealHour0.Add(40*time.Minute), 5, 2)
			appendFlush(t, s, append(late, hubMinutes("hub-a", sealHour0.Add(time.Hour+9*time.Minute), 1, 3)...)...)
			if n := markers(); n != 1 {
				t.Fatalf("%d markers after a late batch, want 1", n)
			}
			seal(t, ctx, s)
			if c, n := count(), markers(); c != 35 || n != 0 {
				t.Fatalf("after recomputing: count %d, %d markers; want 35, 0", c, n)
			}

			// A late batch flushed while the sealer holds the markers it
			// took: its marker is left for the next round.
			appendFlush(t, s, hubMinutes("hub-a", sealHour0.Add(50*time.Minute), 1, 4)...)
			flushed := make(chan error, 1)
			var hooked atomic.Bool
			store.SetAfterDirtyDelete(s, func() {
				if hooked.CompareAndSwap(false, true) {
					go func() {
						flushed <- tryAppendFlush(s, hubMinutes("hub-a", sealHour0.Add(51*time.Minute), 1, 5)...)
					}()
				}
			})
			seal(t, ctx, s)
			if err := <-flushed; err != nil {
				t.Fatal(err)
			}
			store.SetAfterDirtyDelete(s, nil)
			if n := markers(); n != 1 {
				t.Fatalf("%d markers after a flush during the recomputation, want 1 (left for the next round)", n)
			}
			seal(t, ctx, s)
			if c, n := count(), markers(); c != 37 || n != 0 {
				t.Fatalf("after the next round: count %d, %d markers; want 37, 0", c, n)
			}
		})
	}
}

// TestSealResumesAndIsIdempotent: a sealer stopped after some chunks
// leaves the hour unsealed, and the next pass seals it from the start;
// sealing an hour again writes the same blobs.
func TestSealResumesAndIsIdempotent(t *testing.T) {
	for _, be := range sealBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := newClock(sealHour0.Add(20 * time.Minute))
			s := openSealStore(t, be.fresh, clock)
			ctx := context.Background()
			var hubs []devices.HubID
			for i := range 7 {
				hub := devices.HubID(fmt.Sprintf("hub-%d", i))
				hubs = append(hubs, hub)
				appendFlush(t, s, hubMinutes(hub, sealHour0.Add(time.Duration(i)*time.Minute), 10, i)...)
			}
			resident := createResidentHubs(t, s, "hub-1")
			before := viewRollups(t, s, hubs, resident)
			seal(t, ctx, s) // the hour before, empty
			clock.set(sealHour0.Add(2 * time.Hour))

			crash := errors.New("crash")
			store.SetSealInterrupt(s, func(chunk int) error {
				if chunk == 2 {
					return crash
				}
				return nil
			})
			if err := store.SealRollups(ctx, s); !errors.Is(err, crash) {
				t.Fatalf("SealRollups = %v, want the crash", err)
			}
			sealed, _, blobs, err := store.RollupState(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if !sealed.Equal(sealHour0) || len(blobs) != 4 {
				t.Fatalf("after the crash: sealed before %s with %d blobs, want %s with 4 (two chunks)", sealed, len(blobs), sealHour0)
			}
			equalViews(t, "half sealed", viewRollups(t, s, hubs, resident), before)

			store.SetSealInterrupt(s, nil)
			seal(t, ctx, s)
			sealed, _, first, err := store.RollupState(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if !sealed.Equal(sealHour0.Add(time.Hour)) || len(first) != len(hubs) {
				t.Fatalf("after resuming: sealed before %s with %d blobs, want %s with %d", sealed, len(first), sealHour0.Add(time.Hour), len(hubs))
			}
			equalViews(t, "resumed", viewRollups(t, s, hubs, resident), before)

			if err := store.SealHour(ctx, s, sealHour0); err != nil {
				t.Fatal(err)
			}
			_, _, again, err := store.RollupState(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != len(first) {
				t.Fatalf("sealing again: %d blobs, want %d", len(again), len(first))
			}
			for k, b := range first {
				if !bytes.Equal(again[k], b) {
					t.Errorf("blob %s changed when sealed again", k)
				}
			}
		})
	}
}

// TestSealRetentionKeepsUnsealedRaw: retention keeps the raw batches of an
// hour that is not sealed or has a marker waiting, since its rollup is
// still to be computed from them.
func TestSealRetentionKeepsUnsealedRaw(t *testing.T) {
	for _, be := range sealBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := newClock(sealHour0.Add(20 * time.Minute))
			s := openSealStore(t, be.fresh, clock)
			ctx := context.Background()
			appendFlush(t, s, hubMinutes("hub-a", sealHour0, 3, 1)...)
			// Far past RawRetention (72 h) but never sealed: kept.
			res, err := s.RunRetention(ctx, sealHour0.Add(100*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if res.Readings != 0 {
				t.Fatalf("retention deleted %d readings of an unsealed hour", res.Readings)
			}
			clock.set(sealHour0.Add(time.Hour + 10*time.Minute))
			seal(t, ctx, s)
			// A late batch marks the hour: kept until recomputed.
			clock.set(sealHour0.Add(2 * time.Hour))
			appendFlush(t, s, hubMinutes("hub-a", sealHour0.Add(30*time.Minute), 1, 2)...)
			if res, err = s.RunRetention(ctx, sealHour0.Add(100*time.Hour)); err != nil || res.Readings != 0 {
				t.Fatalf("retention of a marked hour deleted %d readings, %v; want 0", res.Readings, err)
			}
			seal(t, ctx, s)
			if res, err = s.RunRetention(ctx, sealHour0.Add(100*time.Hour)); err != nil || res.Readings != 4*3 {
				t.Fatalf("retention of a sealed hour deleted %d readings, %v; want 12", res.Readings, err)
			}
			rs, err := s.Journal().Rollups(ctx, "hub-a", "pir-2", devices.MetricMotion, time.Hour, sealHour0, sealHour0.Add(time.Hour))
			if err != nil || len(rs) != 1 || rs[0].Count != 4 {
				t.Fatalf("hourly rollup after retention = %+v, %v; want count 4", rs, err)
			}
		})
	}
}

// TestMigrateSeal0006: a schema-5 database (blobs merged by every flush)
// starts sealing at the hour before the current one: older hours keep their
// blobs, the previous hour is read from the raw batches until it is sealed
// again from them, replacing its blob.
func TestMigrateSeal0006(t *testing.T) {
	for _, be := range sealBackends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := be.fresh(t)
			exec, closeDB, err := store.OpenAtVersion(ctx, cfg, 5)
			if err != nil {
				t.Fatal(err)
			}
			old, prev := sealHour0.Add(-3*time.Hour), sealHour0.Add(-time.Hour)
			rs := []devices.Reading{
				sealReading("k", devices.MetricTemperature, prev.Add(time.Minute), 20),
				sealReading("k", devices.MetricTemperature, prev.Add(2*time.Minute), 22)}
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO rollup_hub_1h (hub_id, bucket_us, data) VALUES ($1, $2, $3)`,
					[]any{"hub-a", old.UnixMicro(), store.EncodeHourBlob("k", devices.MetricTemperature, 7, 140, 19, 21)}},
				// Schema 5 had merged only the first reading of prev so far.
				{`INSERT INTO rollup_hub_1h (hub_id, bucket_us, data) VALUES ($1, $2, $3)`,
					[]any{"hub-a", prev.UnixMicro(), store.EncodeHourBlob("k", devices.MetricTemperature, 1, 20, 20, 20)}},
				{`INSERT INTO reading_batches (hub_id, from_us, to_us, n, received_us, data) VALUES ($1, $2, $3, $4, $5, $6)`,
					[]any{"hub-a", rs[0].At.UnixMicro(), rs[1].At.UnixMicro(), 2, rs[1].At.UnixMicro(), store.EncodeReadings(rs)}},
			} {
				if err := exec(q.sql, q.args...); err != nil {
					t.Fatal(err)
				}
			}
			closeDB()

			clock := newClock(sealHour0.Add(20 * time.Minute))
			s := openSealStore(t, func(testing.TB) store.Config { return cfg }, clock)
			want := []store.Rollup{
				{Bucket: old, Count: 7, Sum: 140, Min: 19, Max: 21, Avg: 20},
				{Bucket: prev, Count: 2, Sum: 42, Min: 20, Max: 22, Avg: 21},
			}
			check := func(what string, sealedWant time.Time) {
				t.Helper()
				got, err := s.Journal().Rollups(ctx, "hub-a", "k", devices.MetricTemperature, time.Hour, old.Add(-time.Hour), sealHour0.Add(time.Hour))
				if err != nil || !storetest.RollupsEqual(got, want) {
					t.Errorf("%s: hourly rollups\n got %+v, %v\nwant %+v", what, got, err, want)
				}
				if sealed, _, _, err := store.RollupState(ctx, s); err != nil || !sealed.Equal(sealedWant) {
					t.Errorf("%s: sealed before %s, %v; want %s", what, sealed, err, sealedWant)
				}
			}
			check("migrated", prev)
			seal(t, ctx, s)
			check("sealed again", sealHour0)
		})
	}
}

// seal runs one round of the rollup sealer, failing t on an error.
func seal(t *testing.T, ctx context.Context, s *store.Store) {
	t.Helper()
	if err := store.SealRollups(ctx, s); err != nil {
		t.Fatal(err)
	}
}
