package dispatch

import (
	"fmt"
	"testing"
)

// The evidence keeper's memory of kept incidents is bounded: it forgets the
// oldest (a later change of one costs an idempotent write, nothing more).
func TestEvidenceKeeperMemoryIsBounded(t *testing.T) {
	r := newRecentIDs(3)
	for i := range 10 {
		if !r.add(fmt.Sprint(i)) {
			t.Fatalf("%d taken for seen", i)
		}
		if r.add(fmt.Sprint(i)) {
			t.Fatalf("%d not remembered", i)
		}
	}
	if len(r.set) != 3 {
		t.Fatalf("remembers %d ids, want 3", len(r.set))
	}
	if !r.add("0") || r.add("9") {
		t.Error("forgot the newest or remembered the oldest")
	}
}
