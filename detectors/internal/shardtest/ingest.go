package shardtest

import (
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/dolbom/dolbom/devices"
)

// BenchIngest measures handle on the next minute batch of one hub at a
// time, in steady state: each of hubs hubs has sent its first minute (add,
// which registers the hub as the runtime needs and handles msg), then
// settle has run (a save round, so that nothing dirty is carried). The
// engine and the health monitor are measured alike, under one name.
func BenchIngest(b *testing.B, hubs int, add func(id devices.HubID, first *devices.Message), settle func(), handle func(*devices.Message)) {
	msgs := make([]*devices.Message, hubs)
	for n := range hubs {
		id := devices.HubID(fmt.Sprintf("hub-%07d", n))
		msgs[n] = SimMinute(b, id)
		add(id, msgs[n])
	}
	settle()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		msg := msgs[(i*7919)%hubs]
		ShiftMinute(msg.Readings, time.Minute)
		handle(msg)
		i++
	}
}

// KeysTheCallersString checks that a runtime keys a hub by the very string
// it was handed, so that the broker's messages, which carry their
// connection's id string, find it by pointer: add adds the hub and returns
// the id its record holds and the keys of its index.
func KeysTheCallersString(t *testing.T, what string, add func(devices.HubID) (held devices.HubID, keys iter.Seq[devices.HubID])) {
	t.Helper()
	id := devices.HubID(strings.Clone("hub-0001")) // a string of its own
	want := unsafe.StringData(string(id))
	held, keys := add(id)
	if unsafe.StringData(string(held)) != want {
		t.Errorf("%s: the record's id is a copy", what)
	}
	for k := range keys {
		if unsafe.StringData(string(k)) != want {
			t.Errorf("%s: the index key is a copy", what)
		}
	}
}
