package shardtest

import (
	"testing"

	"github.com/dolbom/dolbom/devices"
)

// CollectsOnceInChunks checks a save's collection in steps of limit
// records: each shard's step (steps, one a shard) gives at most limit, says
// when more remain, and over the steps every hub of ids is given exactly
// once. what names the runtime ("engine", "health") in the failures.
func CollectsOnceInChunks[R any](t *testing.T, what string, steps []func(limit int) ([]R, bool), hubOf func(R) devices.HubID,
	ids []devices.HubID, limit int) {
	t.Helper()
	seen := map[devices.HubID]int{}
	for _, step := range steps {
		for n := 0; ; n++ {
			got, more := step(limit)
			if len(got) > limit {
				t.Fatalf("%s shard gave %d records in one step, limit %d", what, len(got), limit)
			}
			for _, r := range got {
				seen[hubOf(r)]++
			}
			if !more {
				break
			}
			if n > len(ids) {
				t.Fatalf("%s shard never ran out", what)
			}
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("%s: %s collected %d times, want 1", what, id, seen[id])
		}
	}
}
