package shard

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors/wheel"
)

// TestReleasedSlotTimerDoesNotFire: a deadline armed for a record that is
// then released (its timer not cancelled, as when the release comes while
// the wheel is firing) does not run on the record that reuses the index:
// the key's generation no longer matches. The new record's own timer does.
func TestReleasedSlotTimerDoesNotFire(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	w := wheel.New(time.Second, 64, start)
	var s Slots
	var c Chunked[string]
	i := c.Add("hub-1")
	w.Schedule(s.Key(i), start.Add(5*time.Second))
	s.Free(i)
	j, ok := s.Reuse()
	if !ok || j != i {
		t.Fatalf("Reuse = %d, %v; want index %d again", j, ok, i)
	}
	*c.At(j) = "hub-2"
	w.Schedule(s.Key(j), start.Add(10*time.Second))
	var ran []string
	expired := func(key uint64, _ wheel.Timer) {
		if k, live := s.Live(key); live {
			ran = append(ran, *c.At(k))
		}
	}
	w.Advance(start.Add(6*time.Second), expired)
	if len(ran) != 0 {
		t.Fatalf("the released record's deadline ran on %v", ran)
	}
	w.Advance(start.Add(11*time.Second), expired)
	if len(ran) != 1 || ran[0] != "hub-2" {
		t.Fatalf("ran %v; want hub-2's own deadline", ran)
	}
	if _, ok := s.Reuse(); ok {
		t.Error("an index handed out twice")
	}
}
