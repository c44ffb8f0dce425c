package every

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// Tick calls fn once per interval, the first one interval after the start,
// and returns when the context ends.
func TestTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		var at []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			Tick(ctx, time.Minute, func() {
				at = append(at, time.Since(start))
				if len(at) == 3 {
					cancel()
				}
			})
		}()
		<-done
		if len(at) != 3 || at[0] != time.Minute || at[1] != 2*time.Minute || at[2] != 3*time.Minute {
			t.Fatalf("calls at %v, want 1m, 2m, 3m", at)
		}
	})
}
