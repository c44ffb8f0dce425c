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

// Backoff waits d between successes and doubles the pause after each
// failure up to max; a success brings it back to d.
func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		fails := []bool{true, true, true, true, false, false}
		var at []time.Duration
		Backoff(ctx, time.Second, 5*time.Second, func() error {
			at = append(at, time.Since(start))
			if len(at) == len(fails) {
				cancel()
			}
			if fails[len(at)-1] {
				return context.DeadlineExceeded
			}
			return nil
		})
		// pauses: 1s, then 2s, 4s, 5s (max), 5s after the failures, then 1s.
		want := []time.Duration{1 * time.Second, 3 * time.Second, 7 * time.Second, 12 * time.Second, 17 * time.Second, 18 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("calls at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("calls at %v, want %v", at, want)
			}
		}
	})
}
