package devices

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

// A shared decode of the simulator's minute batch allocates nothing once
// the pool is warm and the batch released (DecodeFrom: the batch and its
// readings, ~1.4 KB), and decodes what DecodeFrom does.
func TestDecodeSharedAllocations(t *testing.T) {
	sim, err := os.ReadFile("testdata/sim-minute.json")
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.TrimSpace(sim)
	want, err := DefaultLimits.DecodeFrom(testHub, ChanReadings, payload, simMinuteReceived)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the second and third come from the pool
		got, err := DefaultLimits.DecodeShared(testHub, ChanReadings, payload, simMinuteReceived)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := *got.Readings, *want.Readings; g.Hub != w.Hub || !g.SentAt.Equal(w.SentAt) ||
			!g.Received.Equal(w.Received) || !reflect.DeepEqual(g.Readings, w.Readings) {
			t.Fatalf("shared decode:\n got %+v\nwant %+v", g, w)
		}
		got.Readings.Release()
	}
	if raceEnabled {
		return
	}
	n := testing.AllocsPerRun(200, func() {
		m, err := DefaultLimits.DecodeShared(testHub, ChanReadings, payload, simMinuteReceived)
		if err != nil {
			t.Fatal(err)
		}
		m.Readings.Release()
	})
	// The pool may drop its batches at a GC: allow for that once in a while.
	if n > 0.5 {
		t.Errorf("%v allocations per shared decode and release, want 0", n)
	}
}

// A shared batch is reused only after its last holder released it; other
// batches ignore Retain and Release; one release too many is a bug that
// must not pass silently (it would hand a batch in use to the next hub).
func TestSharedBatchHolders(t *testing.T) {
	sim, err := os.ReadFile("testdata/sim-minute.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := DefaultLimits.DecodeShared(testHub, ChanReadings, bytes.TrimSpace(sim), simMinuteReceived)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Readings
	b.Retain() // a second stage
	b.Release()
	if b.Hub != testHub || len(b.Readings) == 0 || b.Readings[0].Sensor == "" {
		t.Fatalf("batch emptied while a holder remained: %+v", b)
	}
	b.Release()
	if b.Hub != "" || len(b.Readings) != 0 {
		t.Errorf("batch not emptied after its last release: %+v", b)
	}

	plain := &ReadingBatch{Hub: testHub, Readings: []Reading{{Sensor: "s"}}}
	plain.Retain()
	plain.Release()
	plain.Release()
	if plain.Hub != testHub || plain.Readings[0].Sensor != "s" {
		t.Errorf("a batch not from DecodeShared was touched: %+v", plain)
	}

	m, err = DefaultLimits.DecodeShared(testHub, ChanReadings, bytes.TrimSpace(sim), simMinuteReceived)
	if err != nil {
		t.Fatal(err)
	}
	m.Readings.Release()
	defer func() {
		if recover() == nil {
			t.Error("a second release of a batch held once did not panic")
		}
	}()
	m.Readings.Release()
}
