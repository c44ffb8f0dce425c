package detectors

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/dolbom/dolbom/devices"
)

// TestHubKeysAreTheCallersString: the engine keys a home by the string they
// were handed, so that the broker's messages, which carry their
// connection's id string, find it by pointer (see engineShard.homeIndex).
func TestHubKeysAreTheCallersString(t *testing.T) {
	id := devices.HubID(strings.Clone("hub-0001"))
	want := unsafe.StringData(string(id))
	es := &engineShard{e: &Engine{}, index: map[devices.HubID]int32{}}
	i := es.homeIndex(id)
	if unsafe.StringData(string(es.homes.At(i).id)) != want {
		t.Error("engine: the home's id is a copy")
	}
	for k := range es.index {
		if unsafe.StringData(string(k)) != want {
			t.Error("engine: the index key is a copy")
		}
	}
}
