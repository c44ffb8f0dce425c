package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// The embedded store on a disk that fills up, for real (a small tmpfs):
// event commits fail (so the hub gets no PUBACK), Ping (/readyz) says the
// store cannot write and why, and once space returns everything recovers
// without a restart: the commits succeed again, an event whose commit
// failed is fresh when resent, and WAL checkpoints have resumed, so the
// WAL is reset again instead of growing for ever.
func TestSQLiteDiskFullNotReadyThenRecovers(t *testing.T) {
	s, dir := runOnTmpfs(t, 24<<20)
	ctx := context.Background()

	n := 0
	event := func() *devices.Event {
		n++
		return &devices.Event{Hub: "hub-1", ID: devices.EventID(fmt.Sprintf("ev-%d", n)), Kind: devices.EventSOS,
			Sensor: "pendant-1", At: time.Now(), Received: time.Now(),
			Detail: []byte(`{"note":"` + strings.Repeat("x", 2000) + `"}`)}
	}
	appendEvent := func(e *devices.Event) (bool, error) {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		return s.Journal().AppendEvent(actx, e)
	}
	if _, err := appendEvent(event()); err != nil {
		t.Fatalf("commit before the disk filled: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("not ready before the disk filled: %v", err)
	}

	// A reader's snapshot keeps the checkpoints from copying what is
	// committed from now on, until the disk is full: then they have pages
	// to copy that need the database file to grow, and fail too.
	reader := holdSnapshot(t, dir)
	// Some room is left, for commits to use up.
	free := storetest.FillDisk(t, dir, 1<<20)
	var failed *devices.Event
	deadline := time.Now().Add(60 * time.Second)
	for failed == nil {
		if time.Now().After(deadline) {
			t.Fatalf("every commit still succeeds after %d events on a full disk", n)
		}
		e := event()
		if _, err := appendEvent(e); err != nil {
			t.Logf("commit of event %d failed on the full disk: %v", n, err)
			failed = e
		}
	}
	reader()
	notReady := waitUntil(30*time.Second, func() bool {
		err := s.Ping(ctx)
		return err != nil && strings.Contains(err.Error(), "full")
	})
	if !notReady {
		t.Errorf("Ping (/readyz) still says %v with the disk full and commits failing; want an error saying the disk is full", s.Ping(ctx))
	} else {
		// Not ready until the checkpoints fail as well, so that their
		// recovery is tested below.
		if !waitUntil(30*time.Second, func() bool {
			err := s.Ping(ctx)
			return err != nil && strings.Contains(err.Error(), "wal_checkpoint")
		}) {
			t.Errorf("checkpoints never failed on the full disk: %v", s.Ping(ctx))
		}
		t.Logf("not ready: %v", s.Ping(ctx))
	}

	free()
	if !waitUntil(60*time.Second, func() bool { return s.Ping(ctx) == nil }) {
		t.Errorf("still not ready 60s after space returned: %v", s.Ping(ctx))
	}
	fresh, err := appendEvent(failed)
	if err != nil || !fresh {
		t.Fatalf("resend of the event whose commit failed: fresh %v, %v; want stored now", fresh, err)
	}
	if _, err := appendEvent(event()); err != nil {
		t.Fatalf("commit after space returned: %v", err)
	}

	// Checkpoints must have resumed: write well past the reset size, then
	// the WAL must come back under it.
	walSize := func() int64 { return fileSize(store.SQLitePath(dir) + "-wal") }
	for walSize() < 3*walReset {
		if _, err := appendEvent(event()); err != nil {
			t.Fatalf("commit after space returned: %v", err)
		}
	}
	if !waitUntil(30*time.Second, func() bool { return walSize() <= walReset }) {
		t.Fatalf("WAL is %d KiB 30s after growing past the %d KiB reset size: checkpoints did not resume after the disk was full",
			walSize()>>10, walReset>>10)
	}
}

// The readings database (readings.db) on a disk that fills up: its flushes
// fail, Ping (/readyz) says so (the readings path, then its WAL's
// checkpoints), and once space returns the readings accepted meanwhile are
// written (none lost), Ping is ready again and readings.db's WAL is reset
// again by its own checkpoints.
func TestSQLiteDiskFullReadingsFileNotReadyThenRecovers(t *testing.T) {
	s, dir := runOnTmpfs(t, 24<<20)
	ctx := context.Background()

	t0 := time.Now().Truncate(time.Minute)
	n := 0 // batches sent: hub-1's, one a second of readings
	send := func(count int) {
		t.Helper()
		for range count {
			b := &devices.ReadingBatch{Hub: "hub-1", Received: time.Now()}
			for i := range 50 {
				b.Readings = append(b.Readings, devices.Reading{Sensor: devices.SensorID(fmt.Sprintf("s-%02d", i)),
					Metric: devices.MetricTemperature, At: t0.Add(time.Duration(n) * time.Millisecond), Value: float64(n), Quality: -1})
			}
			n++
			actx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := s.Journal().AppendReadings(actx, b)
			cancel()
			if err != nil {
				t.Fatalf("append readings %d: %v", n, err)
			}
		}
	}
	flush := func() error {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return s.Flush(fctx)
	}
	send(10)
	if err := flush(); err != nil {
		t.Fatalf("flush before the disk filled: %v", err)
	}

	reader := holdSnapshotOf(t, store.ReadingsPath(dir), "reading_batches")
	free := storetest.FillDisk(t, dir, 1<<20)
	if !waitUntil(60*time.Second, func() bool {
		send(20)
		err := s.Ping(ctx)
		return err != nil && strings.Contains(err.Error(), "readings since") && strings.Contains(err.Error(), "full")
	}) {
		t.Fatalf("Ping (/readyz) says %v after %d batches on a full disk; want the readings path failing, disk full", s.Ping(ctx), n)
	}
	reader()
	if !waitUntil(30*time.Second, func() bool {
		err := s.Ping(ctx)
		return err != nil && strings.Contains(err.Error(), "readings_wal_checkpoint")
	}) {
		t.Errorf("readings.db's checkpoints never failed on the full disk: %v", s.Ping(ctx))
	}
	t.Logf("not ready: %v", s.Ping(ctx))

	free()
	if !waitUntil(60*time.Second, func() bool { return s.Ping(ctx) == nil }) {
		t.Errorf("still not ready 60s after space returned: %v", s.Ping(ctx))
	}
	if err := flush(); err != nil {
		t.Fatalf("flush after space returned: %v", err)
	}
	got, err := s.Journal().Readings(ctx, "hub-1", "s-00", devices.MetricTemperature, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d of the %d readings accepted are stored after the disk was full; want every one", len(got), n)
	}

	walSize := func() int64 { return fileSize(store.ReadingsPath(dir) + "-wal") }
	grow := time.Now().Add(60 * time.Second)
	for walSize() < 3*walReset {
		if time.Now().After(grow) {
			t.Fatalf("readings.db's WAL is %d KiB after a minute of flushes: the readings are not in readings.db", walSize()>>10)
		}
		send(50)
		if err := flush(); err != nil {
			t.Fatalf("flush after space returned: %v", err)
		}
	}
	if !waitUntil(30*time.Second, func() bool { return walSize() <= walReset }) {
		t.Fatalf("readings.db's WAL is %d KiB 30s after growing past the %d KiB reset size: its checkpoints did not resume after the disk was full",
			walSize()>>10, walReset>>10)
	}
}

// walReset is the WAL reset size of the disk-full tests: small, so that a
// few seconds of writes cross it.
const walReset = 512 << 10

// runOnTmpfs opens an embedded store on a tmpfs of size bytes, with WAL
// resets at walReset, and runs it until the test ends.
func runOnTmpfs(t *testing.T, size int64) (*store.Store, string) {
	t.Helper()
	dir := storetest.Tmpfs(t, size)
	t.Cleanup(store.SetWALResetBytes(walReset))
	cfg := storetest.SQLite(t)
	cfg.DataDir = dir
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(runCtx); close(ran) }()
	t.Cleanup(func() { stop(); <-ran })
	return s, dir
}

// fileSize is the size of the file at path, 0 when there is none.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// holdSnapshot opens a read transaction on the embedded database in dir
// and returns the function that ends it.
func holdSnapshot(t *testing.T, dir string) (release func()) {
	t.Helper()
	return holdSnapshotOf(t, store.SQLitePath(dir), "events")
}

// holdSnapshotOf opens a read transaction on the SQLite file at path
// (reading table) and returns the function that ends it.
func holdSnapshotOf(t *testing.T, path, table string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := tx.Rollback(); err != nil {
			t.Errorf("end the reader's snapshot: %v", err)
		}
	}
}

// waitUntil polls ok until it holds or d has passed.
func waitUntil(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
