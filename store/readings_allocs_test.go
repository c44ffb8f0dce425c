package store

import (
	"bytes"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// simMinuteBatch is the simulator's 17-reading minute batch
// (devices/testdata/sim-minute.json), decoded.
func simMinuteBatch(t *testing.T) *devices.ReadingBatch {
	t.Helper()
	payload, err := os.ReadFile("../devices/testdata/sim-minute.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := devices.Decode(devices.Topic("hub-1", devices.ChanReadings), bytes.TrimSpace(payload), time.UnixMilli(1796062080000+1000))
	if err != nil {
		t.Fatal(err)
	}
	return m.Readings
}

// The readings writer encodes every batch a hub sends: into its scratch
// buffer without allocating, then one copy the row keeps until the flush.
// (It grew the blob from nothing: 9 allocations per 17-reading batch.)
func TestReadingsBlobAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates: allocation counts mean nothing under it")
	}
	b := simMinuteBatch(t)
	buf := appendReadingsBlob(nil, b.Readings)
	if n := testing.AllocsPerRun(100, func() { buf = appendReadingsBlob(buf[:0], b.Readings) }); n != 0 {
		t.Errorf("appendReadingsBlob into a warm buffer: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { appendReadingsBlob(nil, b.Readings) }); n != 1 {
		t.Errorf("appendReadingsBlob from nothing: %v allocations, want 1", n)
	}
	got, err := decodeReadingsBlob(buf, nil, nil)
	if err != nil || !reflect.DeepEqual(stripMono(got), stripMono(b.Readings)) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, b.Readings)
	}

	w := newSampleBatch(1000)
	w.addReadings(b) // warms the blobs buffer and the rows' slice
	w.reset()
	if n := testing.AllocsPerRun(100, func() { w.addReadings(b); w.reset() }); n != 0 {
		t.Errorf("sampleBatch.addReadings: %v allocations per batch, want 0 (the blob goes into the batch's buffer)", n)
	}
	// Rows keep their own blobs while the buffer grows under them.
	w.reset()
	for range 50 {
		w.addReadings(b)
	}
	for i := range w.batches {
		got, err := decodeReadingsBlob(w.data(&w.batches[i]), nil, nil)
		if err != nil || !reflect.DeepEqual(stripMono(got), stripMono(b.Readings)) {
			t.Fatalf("row %d after growth: %v", i, err)
		}
	}
}

func stripMono(rs []devices.Reading) []devices.Reading {
	out := make([]devices.Reading, len(rs))
	for i, r := range rs {
		r.At = time.UnixMicro(r.At.UnixMicro())
		out[i] = r
	}
	return out
}

// A batch spanning an hour boundary (once an hour per hub) becomes one row
// per hour, in hour order, each with its own hour's readings; the split
// allocates nothing once the batch's buffers are warm. (It built a map and
// a slice per hour: 4 allocations and ~420 B per split batch.)
func TestReadingsSplitByHourAllocations(t *testing.T) {
	b := simMinuteBatch(t)
	// Shift the batch so that the boundary falls inside it, and mix the
	// order: the later hour's readings first, as a hub's sensors may be.
	first, last := b.Readings[0].At, b.Readings[0].At
	for _, r := range b.Readings {
		first, last = minTime(first, r.At), maxTime(last, r.At)
	}
	if !last.After(first) {
		t.Fatal("the fixture's readings share one time")
	}
	boundary := first.Truncate(time.Hour).Add(time.Hour)
	shift := boundary.Sub(first.Add(last.Sub(first) / 2))
	split := &devices.ReadingBatch{Hub: b.Hub, SentAt: b.SentAt.Add(shift), Received: b.Received.Add(shift)}
	for i := len(b.Readings) - 1; i >= 0; i-- {
		r := b.Readings[i]
		r.At = r.At.Add(shift)
		split.Readings = append(split.Readings, r)
	}
	var early, late []devices.Reading
	for _, r := range split.Readings {
		if r.At.Before(boundary) {
			early = append(early, r)
		} else {
			late = append(late, r)
		}
	}
	if len(early) == 0 || len(late) == 0 {
		t.Fatalf("shifted batch does not span the boundary: %d before, %d after", len(early), len(late))
	}

	w := newSampleBatch(1000)
	w.addReadings(split)
	if len(w.batches) != 2 || w.readings != len(split.Readings) {
		t.Fatalf("%d rows of %d readings, want 2 rows of %d", len(w.batches), w.readings, len(split.Readings))
	}
	for i, want := range [][]devices.Reading{early, late} {
		r := &w.batches[i]
		got, err := decodeReadingsBlob(w.data(r), nil, nil)
		if err != nil || !reflect.DeepEqual(stripMono(got), stripMono(want)) || r.n != len(want) {
			t.Errorf("row %d: %v, n %d\n got %+v\nwant %+v", i, err, r.n, got, want)
		}
	}
	if w.batches[0].toUS >= boundary.UnixMicro() || w.batches[1].fromUS < boundary.UnixMicro() {
		t.Errorf("rows' spans %d-%d and %d-%d, boundary %d", w.batches[0].fromUS, w.batches[0].toUS,
			w.batches[1].fromUS, w.batches[1].toUS, boundary.UnixMicro())
	}
	w.reset()
	if n := testing.AllocsPerRun(100, func() { w.addReadings(split); w.reset() }); n != 0 {
		t.Errorf("splitting a batch by hour: %v allocations, want 0", n)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// A flush with nothing for a table (most carry no accel chunks or rollup
// markers) allocates nothing for it: it made a 128-row argument slice
// (12 KB) per table and flush.
func TestInsertChunkedNothingAllocatesNothing(t *testing.T) {
	n := testing.AllocsPerRun(10, func() {
		if err := insertChunked(t.Context(), nil, "INSERT INTO x (a) VALUES ", "", 1, 0, nil); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("insertChunked of no rows: %v allocations, want 0", n)
	}
}
