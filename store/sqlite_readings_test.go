package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/rs/zerolog"
)

// runEmbedded opens an embedded store in dir and runs it until the test
// ends.
func runEmbedded(t *testing.T, dir string) *Store {
	t.Helper()
	s := openEmbedded(t, Config{DataDir: dir})
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = s.Run(ctx); close(ran) }()
	t.Cleanup(func() { stop(); <-ran })
	return s
}

func readingsBatch(hub devices.HubID, at time.Time, n int) *devices.ReadingBatch {
	b := &devices.ReadingBatch{Hub: hub, Received: at.Add(time.Minute)}
	for i := range n {
		b.Readings = append(b.Readings, devices.Reading{Sensor: "radar", Metric: devices.MetricHeartRate,
			At: at.Add(time.Duration(i) * time.Second), Value: float64(60 + i), Quality: -1})
	}
	return b
}

// An emergency's commit never waits for the readings writer: with a
// readings flush holding readings.db's write lock (stopped inside its
// transaction), and with readings.db's checkpoint holding its writers
// back, an SOS still commits. With the readings in dolbom.db (one lock,
// one gate) the SOS waited until its context ended.
func TestEventCommitsWhileReadingsWriteHeld(t *testing.T) {
	s := runEmbedded(t, t.TempDir())
	rd, ok := s.rd.(*sqliteBackend)
	if !ok || s.rd == s.be {
		t.Fatalf("the embedded store's readings back end is %T, the same as its events': want readings.db of its own", s.rd)
	}
	ctx := context.Background()
	// wait bounds the test, not the store's speed: without the change the
	// SOS waits for as long as the readings writer is held, i.e. for ever
	// here, and is released only after this gives up.
	wait := 20 * time.Second
	sos := func(t *testing.T, id string) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			fresh, err := s.Journal().AppendEvent(ctx, &devices.Event{Hub: "hub-1", ID: devices.EventID(id), Kind: devices.EventSOS,
				Sensor: "pendant", At: time.Now(), Received: time.Now()})
			if err == nil && !fresh {
				err = errors.New("stored already")
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("SOS %s with the readings writer held: %v; want committed", id, err)
			}
		case <-time.After(wait):
			t.Errorf("SOS %s still not committed after %s with the readings writer held: it waits for the readings", id, wait)
		}
	}

	t.Run("flush holding the write lock", func(t *testing.T) {
		held, release := make(chan struct{}), make(chan struct{})
		rd.samplesLocked = func() {
			rd.samplesLocked = nil
			close(held)
			<-release
		}
		if err := s.Journal().AppendReadings(ctx, readingsBatch("hub-1", time.Now().Truncate(time.Minute), 17)); err != nil {
			t.Fatal(err)
		}
		flushed := make(chan error, 1)
		go func() { flushed <- s.Flush(ctx) }()
		<-held
		sos(t, "sos-during-flush")
		close(release)
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("checkpoint holding the writers", func(t *testing.T) {
		unlock := rd.holdGate()
		sos(t, "sos-during-checkpoint")
		unlock()
	})
}

// migratedUnsplit opens the embedded database in dir and migrates it
// without moving any table out of dolbom.db, as binaries before the split
// files left it; the caller closes it.
func migratedUnsplit(t *testing.T, dir string) *sqliteBackend {
	t.Helper()
	ctx := context.Background()
	be, err := openSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, be, zerolog.Nop(), time.Now()); err != nil {
		be.close()
		t.Fatal(err)
	}
	return be
}

// oldLayoutDB builds, in dir, the embedded database as a binary before
// readings.db left it: the readings tables in dolbom.db, with rows written
// by the readings writer, and no readings.db.
func oldLayoutDB(t *testing.T, dir string, batches []*devices.ReadingBatch, chunk *devices.AccelChunk) {
	t.Helper()
	ctx := context.Background()
	be := migratedUnsplit(t, dir)
	var cfg Config
	cfg.setDefaults()
	w := newSampleBatch(64)
	for _, b := range batches {
		w.add(sampleItem{readings: b})
	}
	w.add(sampleItem{accel: chunk})
	w.planLate(toUS(time.Now()), cfg.RawRetention, cfg.SealGrace, cfg.SealMargin)
	// The main file's own writer: the tables are still in dolbom.db.
	if err := be.writeSamples(ctx, w); err != nil {
		t.Fatal(err)
	}
	be.close()
	removeDB(t, ReadingsPath(dir))
}

// tablesIn lists which of tables the file at path holds.
func tablesIn(t *testing.T, path string, tables []string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]bool{}
	for _, name := range tables {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		got[name] = n > 0
	}
	return got
}

// A database written before readings.db existed keeps its readings: the
// first start moves them (and the accel chunks and the sealer's mark) to
// readings.db and drops them from dolbom.db; a crash after the copy and
// before the drop does not copy them twice.
func TestMigrateReadingsToTheirOwnFile(t *testing.T) {
	dir := t.TempDir()
	at := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	batches := []*devices.ReadingBatch{readingsBatch("hub-1", at, 17), readingsBatch("hub-1", at.Add(time.Minute), 17),
		readingsBatch("hub-2", at, 5)}
	chunk := &devices.AccelChunk{Hub: "hub-1", Sensor: "wearable", At: at, Received: at, RateHz: 50,
		X: []float32{0, 1}, Y: []float32{0, 1}, Z: []float32{1, 1}}
	oldLayoutDB(t, dir, batches, chunk)
	for name, in := range tablesIn(t, SQLitePath(dir), readingsTables) {
		if !in {
			t.Fatalf("the old layout has no %s in %s", name, SQLiteFile)
		}
	}

	ctx := context.Background()
	check := func(s *Store) {
		t.Helper()
		got, err := s.Journal().Readings(ctx, "hub-1", "radar", devices.MetricHeartRate, at, at.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 34 || got[0].Value != 60 || got[33].Value != 76 {
			t.Fatalf("hub-1's readings after the move: %d (%v...); want the 34 written before", len(got), got[:min(2, len(got))])
		}
		ev, err := s.rd.query(ctx, `SELECT COUNT(*) FROM accel`)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for ev.Next() {
			if err := ev.Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		ev.Close()
		if n != 1 {
			t.Fatalf("accel chunks after the move: %d; want 1", n)
		}
		var batchRows int
		if err := s.rd.queryRow(ctx, `SELECT COUNT(*) FROM reading_batches`).Scan(&batchRows); err != nil || batchRows != 3 {
			t.Fatalf("reading_batches rows after the move: %d, %v; want 3 (none copied twice)", batchRows, err)
		}
		if _, err := sealedBefore(ctx, s.rd); err != nil {
			t.Fatalf("the sealer's mark after the move: %v", err)
		}
	}
	s := openEmbedded(t, Config{DataDir: dir})
	check(s)
	s.Close()
	for name, in := range tablesIn(t, SQLitePath(dir), readingsTables) {
		if in {
			t.Errorf("%s still in %s after the move", name, SQLiteFile)
		}
	}
	for name, in := range tablesIn(t, ReadingsPath(dir), readingsTables) {
		if !in {
			t.Errorf("%s not in %s after the move", name, ReadingsFile)
		}
	}

	// A crash after the copy, before the drop: the rows are in both files.
	db, err := sql.Open("sqlite", "file:"+SQLitePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ATTACH DATABASE ? AS r`, ReadingsPath(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE main.reading_batches AS SELECT * FROM r.reading_batches`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openEmbedded(t, Config{DataDir: dir})
	check(s)
	if tablesIn(t, SQLitePath(dir), readingsTables)["reading_batches"] {
		t.Error("reading_batches still in dolbom.db after the start that followed a crash between copy and drop")
	}
}

// removeDB removes the SQLite file at path and its companions.
func removeDB(t *testing.T, path string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

// A data folder whose readings.db or state.db is gone (deleted, not copied
// with the rest) does not start as if it were empty (without its state and
// journal positions, the whole journal would be replayed): Open says what
// is missing.
func TestOpenRefusesAMissingFile(t *testing.T) {
	for _, file := range []string{ReadingsFile, StateFile} {
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			openEmbedded(t, Config{DataDir: dir}).Close()
			removeDB(t, filepath.Join(dir, file))
			cfg := Config{DataDir: dir, SecretKey: make([]byte, 32), Logger: zerolog.Nop()}
			s, err := Open(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Open of a data folder without its %s succeeded; want an error naming it", file)
			}
			if !errors.Is(err, devices.ErrInvalid) || !strings.Contains(err.Error(), file) {
				t.Fatalf("Open without %s: %v; want devices.ErrInvalid naming it", file, err)
			}
		})
	}
}
