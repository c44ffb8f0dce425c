package health

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/dolbom/dolbom/devices"
)

// TestHubKeysAreTheCallersString: the monitor keys a hub by the string it
// was handed, as the engine does, so that the broker's messages, which
// carry their connection's id string, find it by pointer.
func TestHubKeysAreTheCallersString(t *testing.T) {
	id := devices.HubID(strings.Clone("hub-0001"))
	want := unsafe.StringData(string(id))
	hs := &hubShard{index: map[devices.HubID]int32{}}
	j := hs.hubIndex(id)
	if unsafe.StringData(string(hs.hubs.At(j).id)) != want {
		t.Error("health: the hub's id is a copy")
	}
	for k := range hs.index {
		if unsafe.StringData(string(k)) != want {
			t.Error("health: the index key is a copy")
		}
	}
}
