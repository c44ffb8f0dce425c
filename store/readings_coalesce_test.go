package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Blobs written back to back decode as the rows they came from did, one
// after the other (what a coalesced row holds).
func TestReadingsBlobsBackToBack(t *testing.T) {
	at := time.UnixMicro(1796062080000000)
	a := readingsBatch("hub-1", at, 3).Readings
	b := readingsBatch("hub-1", at.Add(time.Minute), 2).Readings
	b[1].Sensor, b[1].Quality = "door", 0.5
	blob := appendReadingsBlob(appendReadingsBlob(nil, a), b)
	got, err := decodeReadingsBlob(blob, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]devices.Reading{}, a...), b...); !reflect.DeepEqual(stripMono(got), stripMono(want)) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	door, err := decodeReadingsBlob(blob, nil, func(s devices.SensorID, _ devices.Metric) bool { return s == "door" })
	if err != nil || len(door) != 1 || door[0].Quality != 0.5 {
		t.Fatalf("kept only the door's: %+v, %v", door, err)
	}
}

// coalesce makes a hub's batches of one flush and minute one row when
// each starts after the one before ends, and leaves apart what would read
// in another order (a batch overlapping the one before), or belongs to
// another minute or hub.
func TestCoalesceOneRowPerHubMinute(t *testing.T) {
	hour := time.UnixMicro(1796061600000000) // an hour's start
	at := func(m, s int) time.Time { return hour.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second) }
	w := newSampleBatch(1000)
	in := []*devices.ReadingBatch{ // 5 readings a second apart each
		readingsBatch("hub-1", at(1, 0), 5),
		readingsBatch("hub-2", at(1, 0), 5),
		readingsBatch("hub-1", at(1, 10), 5),
		readingsBatch("hub-2", at(1, 10), 5),
		readingsBatch("hub-1", at(1, 20), 5),
		readingsBatch("hub-1", at(1, 22), 5), // overlaps the one before: a new row
		readingsBatch("hub-1", at(1, 30), 5), // follows the new row
		readingsBatch("hub-1", at(1, 34), 1), // starts where the one before ends
		readingsBatch("hub-1", at(1, 58), 5), // ends in the next minute: its own row
		readingsBatch("hub-1", at(2, 10), 1), // the next minute
		readingsBatch("hub-1", at(2, 10), 1), // the same batch again (a flood's)
		readingsBatch("hub-1", at(61, 0), 5), // the next hour
	}
	for _, b := range in {
		w.addReadings(b)
	}
	w.coalesce()
	type row struct {
		hub      devices.HubID
		from, to time.Time
		n        int
		batches  []int // of in, in order
	}
	want := []row{
		{"hub-1", at(1, 0), at(1, 24), 15, []int{0, 2, 4}},
		{"hub-2", at(1, 0), at(1, 14), 10, []int{1, 3}},
		{"hub-1", at(1, 22), at(1, 34), 11, []int{5, 6, 7}},
		{"hub-1", at(1, 58), at(2, 2), 5, []int{8}},
		{"hub-1", at(2, 10), at(2, 10), 2, []int{9, 10}},
		{"hub-1", at(61, 0), at(61, 4), 5, []int{11}},
	}
	if len(w.batches) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(w.batches), len(want), w.batches)
	}
	total := 0
	for i, r := range w.batches {
		wr := want[i]
		if r.hub != wr.hub || r.fromUS != toUS(wr.from) || r.toUS != toUS(wr.to) || r.n != wr.n || r.receivedUS != toUS(in[wr.batches[0]].Received) {
			t.Errorf("row %d: %s %d..%d n %d received %d, want %+v", i, r.hub, r.fromUS, r.toUS, r.n, r.receivedUS, wr)
		}
		got, err := decodeReadingsBlob(w.data(&w.batches[i]), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var rs []devices.Reading
		for _, b := range wr.batches {
			rs = append(rs, in[b].Readings...)
		}
		if !reflect.DeepEqual(stripMono(got), stripMono(rs)) {
			t.Errorf("row %d readings:\n got %+v\nwant %+v", i, got, rs)
		}
		total += r.n
	}
	if total != w.readings {
		t.Errorf("rows hold %d readings, the flush %d", total, w.readings)
	}
	// Once per flush; a flush with nothing to merge keeps its blobs.
	w.coalesce()
	if len(w.batches) != len(want) {
		t.Errorf("coalesce again: %d rows", len(w.batches))
	}
}

// Through the store: a flush of 20 hubs' 10 batches of one minute each
// writes 20 rows (it wrote 200), and the query reads what was appended.
func TestFlushWritesOneRowPerHubMinute(t *testing.T) {
	s := runEmbedded(t, t.TempDir())
	ctx := context.Background()
	hour := time.Now().Truncate(time.Hour).Add(-2 * time.Hour)
	var want [20][]devices.Reading
	for m := range 10 {
		for h := range 20 {
			hub := devices.HubID("hub-" + string(rune('a'+h)))
			b := readingsBatch(hub, hour.Add(time.Duration(m)*6*time.Second), 5)
			want[h] = append(want[h], b.Readings...)
			if err := s.Journal().AppendReadings(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var rows, n int
	if err := s.rd.queryRow(ctx, `SELECT COUNT(*), SUM(n) FROM reading_batches`).Scan(&rows, &n); err != nil {
		t.Fatal(err)
	}
	if rows != 20 || n != 20*10*5 {
		t.Errorf("%d rows of %d readings, want 20 of %d", rows, n, 20*10*5)
	}
	for h := range 20 {
		hub := devices.HubID("hub-" + string(rune('a'+h)))
		got, err := s.Journal().Readings(ctx, hub, "radar", devices.MetricHeartRate, hour, hour.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stripMono(got), stripMono(want[h])) {
			t.Fatalf("%s: %d readings, want %d", hub, len(got), len(want[h]))
		}
	}
}
