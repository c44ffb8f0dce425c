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
