package shardtest

import (
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/devices"
)

// The per-home memory checks the engine and the health monitor share: the
// same fleet, the same measurement and the same rules for what a home's
// lists may hold (issue 14), each runtime passing its own types.

// FeedThirteen hands handle one batch from thirteen sensors for each of
// homes hubs (each reading's id a fresh string, as decoding makes them) and
// returns the hubs' ids.
func FeedThirteen(homes int, now time.Time, handle func(*devices.Message)) []devices.HubID {
	ids := make([]devices.HubID, homes)
	for n := range homes {
		id := devices.HubID(fmt.Sprintf("hub-%07d", n))
		ids[n] = id
		handle(&devices.Message{Hub: id, Channel: devices.ChanReadings,
			Readings: &devices.ReadingBatch{Hub: id, SentAt: now, Received: now, Readings: ThirteenSensors(now)}})
	}
	return ids
}

// Shared reports whether id is the shared sensor-id table's own string,
// not a copy: every home's and hub's id of that name is one string.
func Shared(id devices.SensorID) bool {
	var o shard.OwnIDs
	return unsafe.StringData(string(id)) == unsafe.StringData(string(o.ID(o.Name(id))))
}

// BenchHeapPerHome reports the heap per home that feed(n) keeps for n
// homes. feed returns held, called once the heap is measured: it reports
// whether the runtime holds any home (else nothing was measured), and its
// use of the runtime keeps it alive through the measurement.
func BenchHeapPerHome(b *testing.B, n int, feed func(tb testing.TB, homes int) (held func() bool)) {
	b.Run(fmt.Sprintf("homes=%d/sensors=13", n), func(b *testing.B) {
		for b.Loop() {
			before := HeapInUse()
			held := feed(b, n)
			after := HeapInUse()
			b.ReportMetric(float64(after-before)/float64(n), "heap_B/home")
			if !held() {
				b.Fatal("no homes held")
			}
		}
	})
}

// PointerFree checks that T, an element of a per-home list, is at most max
// bytes and has no field the collector scans: 300,000 homes' lists are
// then memory it never walks.
func PointerFree[T any](t *testing.T, max uintptr) {
	t.Helper()
	typ := reflect.TypeFor[T]()
	if size := typ.Size(); size > max {
		t.Errorf("%s is %d bytes, want <= %d", typ, size, max)
	}
	for f := range typ.Fields() {
		switch f.Type.Kind() {
		case reflect.String, reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			t.Errorf("%s.%s is a %s: the collector scans it", typ, f.Name, f.Type.Kind())
		}
	}
}
