package shard

import (
	"context"
	"sync"
)

// Await waits until every shard has called steps.Done (each took a
// simulated clock's step, after the inputs queued before it), or ctx ends.
// The wait runs off the caller's goroutine so that ctx can cut it short;
// a shard that never takes the step (stopped) leaves that goroutine
// waiting until the process ends, which only a stopped run can cause.
func Await(ctx context.Context, steps *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		steps.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
