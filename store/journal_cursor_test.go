package store

import "testing"

// With two event groups in flight, the later one can commit, be applied and
// saved first. The watermark must stay below the earlier group's positions
// until it commits and is applied, or a replay after a crash would start
// past an acknowledged event that no consumer applied.
func TestWatermarkWaitsForGroupsInFlight(t *testing.T) {
	var c cursors
	cur := &cursor{pending: map[int64]struct{}{}}
	c.by = map[string]*cursor{"rules": cur}
	c.committed(c.begin(), []int64{1, 2, 3})
	applied := func(seqs ...int64) {
		for _, s := range seqs {
			delete(cur.pending, s)
		}
	}
	applied(1, 2, 3)
	if w := c.watermark(cur); w != 3 {
		t.Fatalf("watermark %d after 1-3 applied, want 3", w)
	}
	early, late := c.begin(), c.begin() // early will be given 4, late 5
	c.committed(late, []int64{5})
	applied(5)
	if w := c.watermark(cur); w != 3 {
		t.Fatalf("watermark %d with position 4 still in flight, want 3", w)
	}
	c.committed(early, []int64{4})
	if w := c.watermark(cur); w != 3 {
		t.Fatalf("watermark %d with 4 committed but not applied, want 3", w)
	}
	applied(4)
	if w := c.watermark(cur); w != 5 {
		t.Fatalf("watermark %d after 4 and 5 applied, want 5", w)
	}
	failed := c.begin()
	c.abandoned(failed)
	if w := c.watermark(cur); w != 5 {
		t.Fatalf("watermark %d after a failed group, want 5", w)
	}
}
