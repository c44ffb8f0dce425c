package defaults

import (
	"testing"
	"time"
)

// Set fills zero and negative values and keeps positive ones.
func TestSet(t *testing.T) {
	for _, tt := range []struct{ v, want time.Duration }{{0, time.Minute}, {-1, time.Minute}, {time.Second, time.Second}} {
		v := tt.v
		Set(&v, time.Minute)
		if v != tt.want {
			t.Errorf("Set(%v, 1m) = %v, want %v", tt.v, v, tt.want)
		}
	}
	n, f := 0, 2.5
	Set(&n, 7)
	Set(&f, 9)
	if n != 7 || f != 2.5 {
		t.Errorf("int %d (want 7), float %g (want 2.5)", n, f)
	}
}
